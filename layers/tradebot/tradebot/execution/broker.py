"""Brokers turn an accepted order into a Fill. The paper broker fills market orders at the next open.

No look-ahead: an order decided on the close of session ``order.as_of`` fills at the Open of the first
session strictly after it, never at a price that was known when the decision was made.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Protocol

from tradebot.errors import DataQualityError
from tradebot.models import Fill, Order


class PriceSource(Protocol):
    def next_open(self, symbol: str, after: date) -> tuple[date, float] | None:
        """The first session strictly after ``after`` and its Open, or None if not known yet."""
        ...


class Broker(Protocol):
    def execute(self, order: Order) -> Fill | None:
        """The order's fill, or None when its price is not known yet (awaiting the next session's open)."""
        ...


class PaperBroker:
    """Simulated market-order fills: next open, adverse slippage, commission as a fraction of value.

    BUY fills at ``open * (1 + slippage_bps/1e4)``, SELL at ``open * (1 - slippage_bps/1e4)``; the
    commission is ``commission_rate * quantity * price``.
    """

    def __init__(self, prices: PriceSource, commission_rate: float, slippage_bps: float) -> None:
        if not 0 <= commission_rate < 1:
            raise ValueError(f"commission_rate must be in [0, 1), got {commission_rate}")
        if not 0 <= slippage_bps < 10_000:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {slippage_bps}")
        self._prices = prices
        self._commission_rate = commission_rate
        self._slippage = slippage_bps / 10_000

    def execute(self, order: Order) -> Fill | None:
        quote = self._prices.next_open(order.symbol, order.as_of)
        if quote is None:
            return None
        session, open_price = quote
        if session <= order.as_of:
            raise DataQualityError(
                f"{order.symbol}: price source returned session {session} for an order decided on "
                f"{order.as_of}; fills must use a later session's open"
            )
        if not math.isfinite(open_price) or open_price <= 0:
            raise DataQualityError(f"{order.symbol}: invalid open {open_price!r} on {session}")
        factor = 1 + self._slippage if order.side == "BUY" else 1 - self._slippage
        price = open_price * factor
        return Fill(
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=price,
            commission=self._commission_rate * order.quantity * price,
            session=session,
        )
