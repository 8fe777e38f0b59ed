"""From target weights to orders: position sizing under the risk limits. Pure: no AWS, no clock.

Sizing rule (documented in README "Orders and the paper account"):
- each symbol with a positive target gets ``weight * allocation`` of equity, where ``allocation`` is
  ``min(max_position_weight, (max_gross_exposure - unmanaged) / n_targets)`` so the gross exposure limit
  holds (``unmanaged``: the weight of holdings no signal speaks for, which are left alone, valued at
  their last recorded close, ``marks``: a stopped symbol, a withheld signal, a symbol left the universe);
- candidates (positive targets) are ranked: symbols already held (or being bought) first, then by the
  walk-forward out-of-sample value of the objective their parameters were chosen for, then by its
  in-sample value (a missing score ranks after any score), then by symbol: :func:`rank_candidates`;
  at most ``max_positions`` of them get a target, and buys are sized in that order (the cash and
  exposure left go to the best ranked first);
- target quantity = floor(target value / last close); orders are the difference to the position the
  account will hold once its pending orders (NEW or ACCEPTED, from earlier sessions) have filled;
- sells are planned first (never more than is held and not already being sold); buys are then cut to the
  cash available: cash, minus what pending buys may cost, plus what this plan's sells at least bring in,
  a MARKET buy budgeted at its close plus ``market_buy_buffer_bps`` (3 %: a broker's buying-power check;
  the overnight gap) and commission (a LIMIT order's worst case is exact: its limit), and to the gross
  exposure left once the sells have filled (pending orders included, at today's closes); orders below
  ``min_order_value`` are dropped (a sell that closes a position is kept); at most ``max_orders_per_run``
  orders (sells first).
Long-only: negative targets mean flat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from tradebot.contracts import Order, Signal, order_id_for
from tradebot.trading.account import Candidate, Portfolio
from tradebot.trading.config import ExecutionSettings, RiskLimits

LISTED = 5  # symbols named in a summary note


@dataclass
class OrderPlan:
    orders: list[Order]
    notes: list[str] = field(default_factory=list)  # why a signal produced no (or a smaller) order
    candidates: list[Candidate] = field(default_factory=list)  # the ranking, with each one's outcome


def rank_candidates(signals: Sequence[Signal], held: dict[str, int]) -> list[Signal]:
    """Signals with a positive target, best first: held (``held[symbol] > 0``) before not held, then the
    out-of-sample score, then the in-sample score (both descending; a missing one after any value), then
    the symbol (ascending). The order is total, so the ranking never depends on the signals' order."""

    def descending(score: float | None) -> tuple[bool, float]:
        return (score is None, -score if score is not None else 0.0)

    wanted = [s for s in signals if s.target_weight > 0]
    return sorted(
        wanted,
        key=lambda s: (
            held.get(s.symbol, 0) <= 0,
            descending(s.out_of_sample_score),
            descending(s.in_sample_score),
            s.symbol,
        ),
    )


def limit_price_for(side: str, close: float, offset_bps: float) -> float:
    """A marketable limit around the decision close, in cents: BUY above it, SELL below it."""
    offset = offset_bps / 10_000
    if side == "BUY":
        return math.ceil(close * (1 + offset) * 100) / 100
    return max(0.01, math.floor(close * (1 - offset) * 100) / 100)


def worst_case_cost(order: Order, risk: RiskLimits) -> float:
    """What a BUY may take from cash: a LIMIT never fills above its limit; a MARKET order is budgeted at
    its close plus ``market_buy_buffer_bps`` (the overnight gap and slippage), commission on top. A gap
    beyond the buffer can still leave the cash short: the fill transaction is the last check."""
    if order.limit_price is not None:
        return order.quantity * order.limit_price * (1 + risk.commission_rate)
    price = order.reference_price * (1 + risk.market_buy_buffer_bps / 10_000)
    return order.quantity * price * (1 + risk.commission_rate)


def worst_case_proceeds(order: Order, risk: RiskLimits) -> float:
    """What a SELL at least brings in: a LIMIT never fills below its limit; a MARKET order is assumed to
    fill at its reference price less slippage, then less commission."""
    if order.limit_price is not None:
        return order.quantity * order.limit_price * (1 - risk.commission_rate)
    price = order.reference_price * (1 - risk.slippage_bps / 10_000)
    return order.quantity * price * (1 - risk.commission_rate)


@dataclass
class _Context:
    """What sizing one plan needs, built once."""

    portfolio: Portfolio
    risk: RiskLimits
    execution: ExecutionSettings
    run_id: str
    as_of: date
    now: datetime
    synthetic: bool
    notes: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # candidate -> why left out or cut

    def order(self, signal: Signal, side: str, quantity: int) -> Order:
        limit = (
            limit_price_for(side, signal.close, self.execution.limit_offset_bps)
            if self.execution.order_type == "LIMIT"
            else None
        )
        return Order(
            order_id=order_id_for(self.portfolio.account, self.as_of, signal.symbol, side),
            run_id=self.run_id,
            account=self.portfolio.account,
            as_of=self.as_of,
            symbol=signal.symbol,
            side=side,  # type: ignore[arg-type]
            quantity=quantity,
            order_type=self.execution.order_type,
            limit_price=limit,
            reference_price=signal.close,
            synthetic=self.synthetic,
            reason=signal.reason,
            created_at=self.now,
        )

    def note(self, symbol: str, text: str) -> None:
        self.notes.append(f"{symbol}: {text}")
        self.reasons[symbol] = text


def plan_orders(
    signals: list[Signal],
    portfolio: Portfolio,
    risk: RiskLimits,
    *,
    run_id: str,
    as_of: date,
    now: datetime,
    synthetic: bool,
    pending: Sequence[Order] = (),
    execution: ExecutionSettings | None = None,
    marks: Mapping[str, float] | None = None,
) -> OrderPlan:
    """Orders that move ``portfolio`` (and its ``pending`` orders) toward the signals' targets without
    breaking ``risk`` (the rule: this module's docstring). ``marks``: prices of holdings without a signal
    (their last recorded close; default: their average price)."""
    ctx = _Context(portfolio, risk, execution or ExecutionSettings(), run_id, as_of, now, synthetic)
    closes = {s.symbol: s.close for s in signals}
    marks = {s: m for s, m in (marks or {}).items() if s not in closes}
    equity = portfolio.equity(closes | marks)
    pending = [o for o in pending if o.account == portfolio.account]
    held = {s: p.quantity for s, p in portfolio.positions.items()}
    expected, being_sold = _after_pending(held, pending)
    ranked = rank_candidates(signals, expected)
    selected, left_out = ranked[: risk.max_positions], ranked[risk.max_positions :]
    for position, s in enumerate(left_out, start=risk.max_positions + 1):
        ctx.reasons[s.symbol] = f"max_positions={risk.max_positions} reached (rank {position})"
    if left_out:
        names = ", ".join(s.symbol for s in left_out[:LISTED]) + (", ..." if len(left_out) > LISTED else "")
        ctx.notes.append(
            f"{len(left_out)} candidate(s) ranked below max_positions={risk.max_positions} left out: {names}"
        )
    # holdings no signal speaks for (e.g. dropped from the universe) stay, and use up gross exposure
    marks = (
        {o.symbol: o.reference_price for o in pending}
        | {s: p.avg_price for s, p in portfolio.positions.items()}
        | marks
    )
    unmanaged = sum(q * marks[s] for s, q in expected.items() if s not in closes and q > 0)
    share = max(0.0, risk.max_gross_exposure - unmanaged / equity) if equity > 0 else 0.0
    allocation = min(risk.max_position_weight, share / max(1, len(selected)))
    targets = {
        s.symbol: max(0, math.floor(s.target_weight * allocation * equity / s.close)) for s in selected
    }
    for s in selected:
        if targets[s.symbol] == 0 and s.target_weight > 0 and expected.get(s.symbol, 0) <= 0:
            value = s.target_weight * allocation * equity
            ctx.note(s.symbol, f"a target of {value:,.2f} buys 0 whole shares at {s.close:,.2f}")

    sells, buys = _sells_and_buys(ctx, signals, targets, expected, held, being_sold)
    cash = portfolio.cash - sum(worst_case_cost(o, risk) for o in pending if o.side == "BUY")
    cash += sum(worst_case_proceeds(o, risk) for o in sells)
    orders = [
        o
        for o in sells
        if o.quantity * o.reference_price >= risk.min_order_value or o.quantity == held.get(o.symbol, 0)
    ]
    # what stays exposed once the kept sells have filled (pending buys included, marked at today's closes)
    after_sells = dict(expected)
    for o in orders:
        after_sells[o.symbol] -= o.quantity
    prices = marks | closes
    exposure = sum(q * prices[s] for s, q in after_sells.items() if q > 0)
    rank = {s.symbol: i for i, s in enumerate(ranked)}
    buys.sort(key=lambda b: rank[b[0].symbol])  # the best ranked are served first
    orders += _sized_buys(ctx, buys, cash, risk.max_gross_exposure * equity - exposure)
    if len(orders) > risk.max_orders_per_run:
        for o in orders[risk.max_orders_per_run :]:
            ctx.note(o.symbol, f"max_orders_per_run={risk.max_orders_per_run} reached")
        orders = orders[: risk.max_orders_per_run]
    bought = {o.symbol: o.quantity for o in orders if o.side == "BUY"}
    candidates = [
        Candidate(
            symbol=s.symbol,
            rank=i + 1,
            held=expected.get(s.symbol, 0) > 0,
            out_of_sample_score=s.out_of_sample_score,
            in_sample_score=s.in_sample_score,
            selected=i < risk.max_positions,
            quantity=bought.get(s.symbol, 0),
            reason=ctx.reasons.get(s.symbol, ""),
        )
        for i, s in enumerate(ranked)
    ]
    return OrderPlan(orders=orders, notes=ctx.notes, candidates=candidates)


def _sells_and_buys(
    ctx: _Context,
    signals: list[Signal],
    targets: dict[str, int],
    expected: dict[str, int],
    held: dict[str, int],
    being_sold: dict[str, int],
) -> tuple[list[Order], list[tuple[Signal, int]]]:
    """Sell orders (never more than is held and not already being sold) and the buys wanted."""
    sells: list[Order] = []
    buys: list[tuple[Signal, int]] = []
    for signal in signals:
        symbol = signal.symbol
        delta = targets.get(symbol, 0) - expected.get(symbol, 0)
        if delta > 0:
            buys.append((signal, delta))
            continue
        quantity = min(-delta, held.get(symbol, 0) - being_sold.get(symbol, 0))  # never sell unheld shares
        if quantity < -delta:
            ctx.note(symbol, f"sell cut from {-delta} to {max(quantity, 0)} shares by pending orders")
        if quantity > 0:
            sells.append(ctx.order(signal, "SELL", quantity))
    return sells, buys


def _sized_buys(ctx: _Context, buys: list[tuple[Signal, int]], cash: float, room: float) -> list[Order]:
    """Buys in order, each cut to the ``cash`` and gross-exposure ``room`` the earlier ones left."""
    risk = ctx.risk
    orders = []
    for signal, quantity in buys:
        per_share = worst_case_cost(ctx.order(signal, "BUY", 1), risk)
        by_cash = math.floor(max(cash, 0.0) / per_share)
        by_exposure = math.floor(max(room, 0.0) / signal.close)
        qty = min(quantity, by_cash, by_exposure)
        if qty < quantity:
            limit = (
                "available cash"
                if by_cash <= by_exposure
                else f"max_gross_exposure={risk.max_gross_exposure:g}"
            )
            ctx.note(signal.symbol, f"buy cut from {quantity} to {qty} shares by {limit}")
        if qty <= 0 or qty * signal.close < risk.min_order_value:
            ctx.note(signal.symbol, f"order below min_order_value={risk.min_order_value:g}, skipped")
            continue
        cash -= qty * per_share
        room -= qty * signal.close
        orders.append(ctx.order(signal, "BUY", qty))
    return orders


def _after_pending(held: dict[str, int], pending: list[Order]) -> tuple[dict[str, int], dict[str, int]]:
    """(shares held once the pending orders have filled, shares already being sold) per symbol."""
    expected = dict(held)
    being_sold: dict[str, int] = {}
    for o in pending:
        expected[o.symbol] = expected.get(o.symbol, 0) + (o.quantity if o.side == "BUY" else -o.quantity)
        if o.side == "SELL":
            being_sold[o.symbol] = being_sold.get(o.symbol, 0) + o.quantity
    return expected, being_sold
