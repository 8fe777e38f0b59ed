"""Brokers turn an accepted order into an Execution: filled, still pending, cancelled or rejected.

The paper broker fills against the first session strictly after the order's decision session
(``order.as_of``): never at a price that was known when the decision was made.

- MARKET: at that session's Open, with adverse slippage.
- LIMIT: a BUY fills if the session traded at or below its limit: at the Open (with slippage, capped at
  the limit) when the Open is already at or below it, else at the limit. A SELL mirrors it. Every order
  is a DAY order: a limit not reached during its session is CANCELLED once that session has closed.
- Commission: ``commission_rate * quantity * price``.

Cash and position checks are not the broker's: they are conditions of the fill transaction
(tradebot.store.settlement), which a concurrent fill cannot race.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from tradebot.clock import Clock
from tradebot.contracts import Fill, Order
from tradebot.errors import DataQualityError

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class SessionBar:
    """One session's daily bar (what a paper fill may use)."""

    session: date
    open: float
    high: float
    low: float
    close: float


class PriceSource(Protocol):
    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        """The first session strictly after ``after`` and its bar, or None if not known yet."""
        ...


class ExecutionStatus(StrEnum):
    FILLED = "FILLED"
    PENDING = "PENDING"  # no price yet (awaiting the open), or the broker is still working the order
    CANCELLED = "CANCELLED"  # will never fill: a day order not filled by its session's close
    REJECTED = "REJECTED"  # refused by the broker


@dataclass(frozen=True)
class Execution:
    status: ExecutionStatus
    fill: Fill | None = None
    reason: str = ""

    @classmethod
    def filled(cls, fill: Fill) -> Execution:
        return cls(ExecutionStatus.FILLED, fill=fill)

    @classmethod
    def pending(cls, reason: str = "awaiting the next open") -> Execution:
        return cls(ExecutionStatus.PENDING, reason=reason)

    @classmethod
    def cancelled(cls, reason: str) -> Execution:
        return cls(ExecutionStatus.CANCELLED, reason=reason)

    @classmethod
    def rejected(cls, reason: str) -> Execution:
        return cls(ExecutionStatus.REJECTED, reason=reason)


class Broker(Protocol):
    def execute(self, order: Order) -> Execution:
        """Where ``order`` stands at this broker. Called again for a PENDING order: must be idempotent."""
        ...


def new_york_close(session: date) -> datetime:
    """16:00 New York on ``session``: a session's bar is complete after it (early closes end sooner)."""
    return datetime.combine(session, time(16, 0), tzinfo=NEW_YORK)


class PaperBroker:
    """Simulated fills: next session's bar, adverse slippage, commission as a fraction of value.

    With a ``clock``, a limit order is judged only on a complete bar (its session has closed); without
    one (replays, tests) every bar the price source returns is taken as complete.
    """

    def __init__(
        self,
        prices: PriceSource,
        commission_rate: float,
        slippage_bps: float,
        *,
        clock: Clock | None = None,
        session_close: Callable[[date], datetime] = new_york_close,
    ) -> None:
        if not 0 <= commission_rate < 1:
            raise ValueError(f"commission_rate must be in [0, 1), got {commission_rate}")
        if not 0 <= slippage_bps < 10_000:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {slippage_bps}")
        self._prices = prices
        self._commission_rate = commission_rate
        self._slippage = slippage_bps / 10_000
        self._clock = clock
        self._session_close = session_close

    def execute(self, order: Order) -> Execution:
        bar = self._prices.next_bar(order.symbol, order.as_of)
        if bar is None:
            return Execution.pending()
        _check_bar(order, bar)
        buy = order.side == "BUY"
        slipped_open = bar.open * (1 + self._slippage if buy else 1 - self._slippage)
        if order.limit_price is None:
            return Execution.filled(self._fill(order, slipped_open, bar.session))
        limit = order.limit_price
        if (buy and bar.open <= limit) or (not buy and bar.open >= limit):
            price = min(slipped_open, limit) if buy else max(slipped_open, limit)
            return Execution.filled(self._fill(order, price, bar.session))
        if (buy and bar.low <= limit) or (not buy and bar.high >= limit):
            return Execution.filled(self._fill(order, limit, bar.session))
        if self._clock is not None and self._clock.now() < self._session_close(bar.session):
            return Execution.pending(f"limit {limit:g} not reached yet on {bar.session}")
        reached = f"low {bar.low:g}" if buy else f"high {bar.high:g}"
        return Execution.cancelled(
            f"day order expired: limit {limit:g} not reached on {bar.session} ({reached})"
        )

    def _fill(self, order: Order, price: float, session: date) -> Fill:
        return Fill(
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=price,
            commission=self._commission_rate * order.quantity * price,
            session=session,
        )


def _check_bar(order: Order, bar: SessionBar) -> None:
    if bar.session <= order.as_of:
        raise DataQualityError(
            f"{order.symbol}: price source returned session {bar.session} for an order decided on "
            f"{order.as_of}; fills must use a later session's prices"
        )
    values = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise DataQualityError(f"{order.symbol}: invalid bar on {bar.session}: {values}")
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise DataQualityError(f"{order.symbol}: inconsistent OHLC on {bar.session}: {values}")
