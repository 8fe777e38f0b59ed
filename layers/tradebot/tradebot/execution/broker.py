"""Brokers turn an accepted order into an Execution: filled, still pending, cancelled or rejected.

The paper broker fills an order decided on session D (``order.as_of``) at the open of the next NYSE
session after D (``calendar.next_session(D)``, the order's *fill session*), and only then: never at a price
known when the decision was made, never at a bar dated on a day the exchange was closed, never at a later
session's price.

- The price source answers "the first bar strictly after a date" (:class:`PriceSource`); bars dated on
  a closed day are skipped (the broker asks again after them), so a stray weekend or holiday row is never
  a fill price.
- The fill session's bar: MARKET at its Open, with adverse slippage. LIMIT: a BUY fills if the session
  traded at or below its limit: at the Open (with slippage, capped at the limit) when the Open is
  already at or below it, else at the limit. A SELL mirrors it. Every order is a DAY order: a limit not
  reached during its session is CANCELLED once that session has closed.
- No bar for the fill session: the order waits (PENDING) until the session is *over* for prices, then
  it is CANCELLED with the reason. The session is over when the source already has a later session's
  bar (proof that the fill session's bar is missing), or, with a clock, once ``missing_bar_grace``
  (default 6 hours) has passed after the session's close (13:00 New York on an early close): a live
  source's daily bar may arrive a little after the close, but not that late. Without a clock (replays,
  tests) only a later session's bar proves a bar missing.
- A price source that fails (raises) is :class:`PriceLookupError`: the order stays ACCEPTED for the
  executor's next sweep (the executor logs it as an error and counts it in a metric) while its fill
  session can still come. If lookups still fail ``failed_lookup_limit`` (default 3 days) after the fill
  session's close, the order is CANCELLED with the last error: nothing waits forever.
- With a clock, nothing fills before the fill session's open.
- A split between the decision and the fill (tradebot.trading.corporate_actions): the price source also
  says what the decision session's close is *now* (``close_on``, from the same data as the fill bar). If
  it differs from the order's reference price (the close it was sized on) by a split ratio, the order is
  not filled as it is: the execution is SPLIT, with the split found, and the executor adjusts the order
  (quantity x ratio, prices / ratio) and the account before executing it again. A vendor's correction of
  that close (within 0.5%) fills as usual. A difference no split explains is REJECTED with the reason: an
  order is never filled at a price the decision never saw.
- Commission: ``commission_rate * quantity * price``.

Cash and position checks are not the broker's: they are conditions of the fill transaction
(tradebot.store.settlement), which a concurrent fill cannot race.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from tradebot.clock import Clock
from tradebot.contracts import Fill, Order
from tradebot.errors import DataQualityError, RetryableError
from tradebot.trading.corporate_actions import CloseChange, SplitFound, compare_closes, describe

if TYPE_CHECKING:
    from tradebot.calendar import TradingCalendar

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_MISSING_BAR_GRACE = timedelta(hours=6)
DEFAULT_FAILED_LOOKUP_LIMIT = timedelta(days=3)
_MAX_SKIPPED_BARS = 64  # closed-day bars skipped in a row before the source is deemed broken


class PriceLookupError(RetryableError):
    """The price source failed (raised, or could not read the symbol's data): not "no price yet"."""


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
        """The first bar dated strictly after ``after``, or None if the source has none (yet). Raises
        when the source cannot answer (the broker turns that into :class:`PriceLookupError`)."""
        ...


class SessionCloses(Protocol):
    """What a price source may also answer (optional: the broker checks for splits only when it does)."""

    def close_on(self, symbol: str, session: date) -> float | None:
        """``session``'s close as the source has it now, from the same data ``next_bar(symbol, session)``
        answered from (None: the source has no bar of that session)."""
        ...


class ExecutionStatus(StrEnum):
    FILLED = "FILLED"
    PENDING = "PENDING"  # no price yet (awaiting the open), or the broker is still working the order
    SPLIT = "SPLIT"  # the order predates a split of its symbol: adjust it (and the account), then again
    CANCELLED = "CANCELLED"  # will never fill: a day order not filled by its session's close
    REJECTED = "REJECTED"  # refused by the broker


@dataclass(frozen=True)
class Execution:
    status: ExecutionStatus
    fill: Fill | None = None
    reason: str = ""
    split: SplitFound | None = None

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

    @classmethod
    def split_found(cls, split: SplitFound, reason: str) -> Execution:
        return cls(ExecutionStatus.SPLIT, reason=reason, split=split)


class Broker(Protocol):
    def execute(self, order: Order) -> Execution:
        """Where ``order`` stands at this broker. Called again for a PENDING order: must be idempotent."""
        ...


def new_york_close(session: date) -> datetime:
    """16:00 New York on ``session``: a session's bar is complete after it (early closes end sooner)."""
    return datetime.combine(session, time(16, 0), tzinfo=NEW_YORK)


class PaperBroker:
    """Simulated fills at the fill session's open (see the module docstring): adverse slippage,
    commission as a fraction of value.

    With a ``clock``, a limit order is judged only on a complete bar (its session has closed), nothing
    fills before the fill session opens, and a fill session without a bar ends (CANCELLED) after
    ``missing_bar_grace``; without one (replays, tests) every bar the price source returns is taken as
    complete and only a later session's bar proves a bar missing. ``calendar``: the NYSE calendar
    (default :func:`tradebot.calendar.get_calendar`); ``session_close``: a session's close (default the
    calendar's, 13:00 on an early close).
    """

    def __init__(
        self,
        prices: PriceSource,
        commission_rate: float,
        slippage_bps: float,
        *,
        clock: Clock | None = None,
        session_close: Callable[[date], datetime] | None = None,
        calendar: TradingCalendar | None = None,
        missing_bar_grace: timedelta = DEFAULT_MISSING_BAR_GRACE,
        failed_lookup_limit: timedelta = DEFAULT_FAILED_LOOKUP_LIMIT,
    ) -> None:
        if not 0 <= commission_rate < 1:
            raise ValueError(f"commission_rate must be in [0, 1), got {commission_rate}")
        if not 0 <= slippage_bps < 10_000:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {slippage_bps}")
        if missing_bar_grace < timedelta(0) or failed_lookup_limit < missing_bar_grace:
            raise ValueError("missing_bar_grace must be >= 0 and failed_lookup_limit >= missing_bar_grace")
        if calendar is None:
            from tradebot.calendar import get_calendar

            calendar = get_calendar()
        self._prices = prices
        self._commission_rate = commission_rate
        self._slippage = slippage_bps / 10_000
        self._clock = clock
        self._calendar = calendar
        self._session_close = session_close or calendar.session_close
        self._grace = missing_bar_grace
        self._failed_limit = failed_lookup_limit

    def fill_session(self, order: Order) -> date:
        """The only session whose prices may fill ``order``: the first NYSE session after its decision."""
        return self._calendar.next_session(order.as_of)

    def execute(self, order: Order) -> Execution:
        session = self.fill_session(order)
        now = self._clock.now() if self._clock is not None else None
        if now is not None and now < self._calendar.session_open(session):
            return Execution.pending(f"awaiting the {session} open")
        try:
            bar = self._session_bar(order)
        except DataQualityError:
            raise
        except Exception as exc:
            over = self._session_close(session) + self._failed_limit
            if now is not None and now >= over:
                return Execution.cancelled(
                    f"day order expired: no price for {order.symbol} on {session} (the session after the "
                    f"{order.as_of} decision): price lookups still failing {_ago(self._failed_limit)} after "
                    f"its close ({type(exc).__name__}: {exc})"
                )
            raise PriceLookupError(
                f"{order.symbol}: price lookup for the {session} session failed: {type(exc).__name__}: {exc}"
            ) from exc
        if bar is None:
            deadline = self._session_close(session) + self._grace
            if now is not None and now >= deadline:
                return Execution.cancelled(
                    f"day order expired: no bar for {order.symbol} on {session} (the session after the "
                    f"{order.as_of} decision) in the price source by {_local(deadline)} (its close + "
                    f"{_ago(self._grace)}); never filled at a later session's price"
                )
            return Execution.pending(f"awaiting the {session} open")
        if bar.session != session:
            return Execution.cancelled(
                f"day order expired: no bar for {order.symbol} on {session} (the session after the "
                f"{order.as_of} decision) in the price source, whose next bar is {bar.session}; never "
                "filled at a later session's price"
            )
        _check_values(order, bar)
        restated = self._restatement(order, session, now)
        if restated is not None:
            return restated
        return self._fill_at(order, bar, now)

    def _restatement(self, order: Order, session: date, now: datetime | None) -> Execution | None:
        """SPLIT or REJECTED when the decision session's close is not the one the order was sized on
        (see the module doc); None: fill it."""
        close_on = getattr(self._prices, "close_on", None)
        restated = close_on(order.symbol, order.as_of) if close_on is not None else None
        if restated is None:
            return None
        comparison = compare_closes(order.reference_price, restated)
        if comparison.change in (CloseChange.UNCHANGED, CloseChange.CORRECTED):
            return None
        what = describe(comparison, order.symbol, order.as_of).replace(
            "when recorded", "when the order was sized on it"
        )
        if comparison.change is CloseChange.UNEXPLAINED or comparison.ratio is None:
            return Execution.rejected(f"{what}: not filled at a price the decision never saw")
        # the latest session the split can have taken effect on: today's (with a clock), else the fill's
        ex_date = session
        if now is not None:
            today = now.astimezone(NEW_YORK).date()
            latest = today if self._calendar.is_session(today) else self._calendar.previous_session(today)
            ex_date = max(session, latest)
        found = SplitFound(
            account=order.account,
            symbol=order.symbol,
            ex_date=ex_date,
            ratio=comparison.ratio,
            reference_session=order.as_of,
            known_close=order.reference_price,
            restated_close=restated,
        )
        return Execution.split_found(found, what)

    def _session_bar(self, order: Order) -> SessionBar | None:
        """The first bar after the decision dated on a session (closed-day bars are skipped)."""
        after = order.as_of
        for _ in range(_MAX_SKIPPED_BARS):
            bar = self._prices.next_bar(order.symbol, after)
            if bar is None:
                return None
            _check_order(order, bar, after)
            if self._calendar.is_session(bar.session):
                return bar
            after = bar.session  # a bar on a day the exchange was closed is never a price
        raise DataQualityError(
            f"{order.symbol}: more than {_MAX_SKIPPED_BARS} bars dated on closed days after {order.as_of}"
        )

    def _fill_at(self, order: Order, bar: SessionBar, now: datetime | None) -> Execution:
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
        if now is not None and now < self._session_close(bar.session):
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


def _local(moment: datetime) -> str:
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


def _check_order(order: Order, bar: SessionBar, after: date) -> None:
    if bar.session <= after:
        raise DataQualityError(
            f"{order.symbol}: price source returned session {bar.session} for an order decided on "
            f"{order.as_of}; fills must use a later session's prices"
        )


def _check_values(order: Order, bar: SessionBar) -> None:
    values = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise DataQualityError(f"{order.symbol}: invalid bar on {bar.session}: {values}")
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise DataQualityError(f"{order.symbol}: inconsistent OHLC on {bar.session}: {values}")
