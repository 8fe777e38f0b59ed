"""From target weights to orders: position sizing under the risk limits. Pure: no AWS, no clock.

Sizing rule (documented in README "Risk limits"):
- each symbol with a positive target gets ``weight * allocation`` of equity, where ``allocation`` is
  ``min(max_position_weight, max_gross_exposure / n_targets)`` so the gross exposure limit holds;
- at most ``max_positions`` long targets (symbols already held first, then in the signals' order);
- target quantity = floor(target value / last close); orders are the difference to the current position;
- sells are planned first; buys are then cut to the cash available (after the sells' proceeds, with
  commission and slippage headroom); orders below ``min_order_value`` are dropped; at most
  ``max_orders_per_run`` orders (sells first).
Long-only (the default) turns negative targets into flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

from tradebot.config import RiskLimits
from tradebot.models import Order, Portfolio, Signal, order_id_for


@dataclass
class OrderPlan:
    orders: list[Order]
    notes: list[str] = field(default_factory=list)  # why a signal produced no order


def plan_orders(
    signals: list[Signal],
    portfolio: Portfolio,
    risk: RiskLimits,
    *,
    run_id: str,
    as_of: date,
    now: datetime,
    synthetic: bool,
) -> OrderPlan:
    """Orders that move ``portfolio`` toward the signals' targets without breaking ``risk``."""
    closes = {s.symbol: s.close for s in signals}
    equity = portfolio.equity(closes)
    notes: list[str] = []
    wanted = [s for s in signals if (s.target_weight > 0 or not risk.long_only) and s.target_weight != 0]
    held_first = sorted(wanted, key=lambda s: s.symbol not in portfolio.positions)
    if len(held_first) > risk.max_positions:
        notes += [
            f"{s.symbol}: max_positions={risk.max_positions} reached"
            for s in held_first[risk.max_positions :]
        ]
        held_first = held_first[: risk.max_positions]
    allocation = min(risk.max_position_weight, risk.max_gross_exposure / max(1, len(held_first)))
    targets = {s.symbol: math.floor(s.target_weight * allocation * equity / s.close) for s in held_first}

    def make(signal: Signal, side: str, quantity: int) -> Order:
        return Order(
            order_id=order_id_for(portfolio.account, as_of, signal.symbol, side),
            run_id=run_id,
            account=portfolio.account,
            as_of=as_of,
            symbol=signal.symbol,
            side=side,  # type: ignore[arg-type]
            quantity=quantity,
            reference_price=signal.close,
            synthetic=synthetic,
            reason=signal.reason,
            created_at=now,
        )

    sells: list[Order] = []
    buys: list[tuple[Signal, int]] = []
    for signal in signals:
        held = portfolio.positions.get(signal.symbol)
        current = held.quantity if held else 0
        delta = targets.get(signal.symbol, 0) - current
        if delta < 0:
            sells.append(make(signal, "SELL", -delta))
        elif delta > 0:
            buys.append((signal, delta))

    cost_factor = 1 + risk.commission_rate + risk.slippage_bps / 10_000
    cash = portfolio.cash + sum(o.quantity * o.reference_price / cost_factor for o in sells)
    orders = [
        o
        for o in sells
        if o.quantity * o.reference_price >= risk.min_order_value or _closes_out(o, portfolio)
    ]
    for signal, quantity in buys:
        affordable = math.floor(max(cash, 0.0) / (signal.close * cost_factor))
        qty = min(quantity, affordable)
        if qty < quantity:
            notes.append(f"{signal.symbol}: buy cut from {quantity} to {qty} shares by available cash")
        if qty <= 0 or qty * signal.close < risk.min_order_value:
            notes.append(f"{signal.symbol}: order below min_order_value={risk.min_order_value:g}, skipped")
            continue
        cash -= qty * signal.close * cost_factor
        orders.append(make(signal, "BUY", qty))
    if len(orders) > risk.max_orders_per_run:
        notes += [
            f"{o.symbol}: max_orders_per_run={risk.max_orders_per_run} reached"
            for o in orders[risk.max_orders_per_run :]
        ]
        orders = orders[: risk.max_orders_per_run]
    return OrderPlan(orders=orders, notes=notes)


def _closes_out(order: Order, portfolio: Portfolio) -> bool:
    """A sell that closes a whole position is never dropped for being small."""
    held = portfolio.positions.get(order.symbol)
    return order.side == "SELL" and held is not None and order.quantity == held.quantity
