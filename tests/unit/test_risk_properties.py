"""Property tests (hypothesis) of order sizing over random accounts, pending orders, signals and limits:
at the prices the plan assumes, cash never goes negative (long-only), no buy takes a position above its
limit, and buys never take gross exposure above its limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradebot.contracts import Order, Signal, order_id_for
from tradebot.trading.account import Portfolio, Position
from tradebot.trading.config import ExecutionSettings, RiskLimits
from tradebot.trading.sizing import plan_orders, worst_case_cost, worst_case_proceeds

AS_OF = date(2025, 6, 2)
EARLIER = date(2025, 5, 30)
NOW = datetime(2025, 6, 2, 21, tzinfo=UTC)
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
EPS = 1e-6

prices = st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False).map(lambda p: round(p, 2))


@st.composite
def risk_limits(draw: st.DrawFn) -> RiskLimits:
    weight = draw(st.floats(min_value=0.05, max_value=1.0))
    return RiskLimits(
        max_position_weight=weight,
        max_gross_exposure=draw(st.floats(min_value=weight, max_value=1.0)),
        max_positions=draw(st.integers(1, 8)),
        min_order_value=draw(st.sampled_from([0.0, 50.0, 100.0, 500.0])),
        max_orders_per_run=draw(st.integers(1, 20)),
        commission_rate=draw(st.sampled_from([0.0, 0.0005, 0.01])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 50.0])),
    )


@dataclass
class Case:
    portfolio: Portfolio
    pending: list[Order]
    signals: list[Signal]
    risk: RiskLimits
    execution: ExecutionSettings


def order(symbol: str, side: str, quantity: int, price: float, limit: float | None = None) -> Order:
    return Order(
        order_id=order_id_for("paper", EARLIER, symbol, side),
        run_id="earlier",
        account="paper",
        as_of=EARLIER,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        order_type="MARKET" if limit is None else "LIMIT",
        limit_price=limit,
        reference_price=price,
        synthetic=True,
        created_at=NOW,
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    risk = draw(risk_limits())
    execution = draw(
        st.builds(
            ExecutionSettings,
            order_type=st.sampled_from(["MARKET", "LIMIT"]),
            limit_offset_bps=st.sampled_from([0.0, 25.0, 200.0]),
        )
    )
    held = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4))
    positions = {
        s: Position(symbol=s, quantity=draw(st.integers(1, 3_000)), avg_price=draw(prices)) for s in held
    }
    cash = draw(st.floats(min_value=0.0, max_value=500_000.0))
    # pending orders from an earlier session the account could afford: buys within cash, sells within holdings
    pending: list[Order] = []
    budget = cash
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=3)):
        if symbol in positions and draw(st.booleans()):
            pending.append(
                order(symbol, "SELL", draw(st.integers(1, positions[symbol].quantity)), draw(prices))
            )
            continue
        price = draw(prices)
        buy = order(
            symbol, "BUY", draw(st.integers(1, 500)), price, price * 1.01 if draw(st.booleans()) else None
        )
        if worst_case_cost(buy, risk) <= budget:
            budget -= worst_case_cost(buy, risk)
            pending.append(buy)
    signalled = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, min_size=1))
    signals = [
        Signal(
            symbol=s,
            strategy="sma_crossover",
            params={},
            target_weight=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
            reason="property",
            close=draw(prices),
            bar_date=AS_OF,
        )
        for s in signalled
    ]
    portfolio = Portfolio(account="paper", cash=cash, positions=positions)
    return Case(portfolio, pending, signals, risk, execution)


def plan(case: Case) -> list[Order]:
    return plan_orders(
        case.signals,
        case.portfolio,
        case.risk,
        run_id="now",
        as_of=AS_OF,
        now=NOW,
        synthetic=True,
        pending=case.pending,
        execution=case.execution,
    ).orders


def holdings_after(case: Case, orders: list[Order]) -> dict[str, int]:
    after = {s: p.quantity for s, p in case.portfolio.positions.items()}
    for o in [*case.pending, *orders]:
        after[o.symbol] = after.get(o.symbol, 0) + (o.quantity if o.side == "BUY" else -o.quantity)
    return after


def marks(case: Case) -> dict[str, float]:
    closes = {s.symbol: s.close for s in case.signals}
    return (
        {o.symbol: o.reference_price for o in case.pending}
        | {s: p.avg_price for s, p in case.portfolio.positions.items()}
        | closes
    )


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cases())
def test_cash_never_goes_negative(case: Case) -> None:
    orders = plan(case)
    cash = case.portfolio.cash - sum(worst_case_cost(o, case.risk) for o in case.pending if o.side == "BUY")
    assert cash >= -EPS
    sells = [o for o in orders if o.side == "SELL"]
    buys = [o for o in orders if o.side == "BUY"]
    assert orders == sells + buys  # sells are queued first: their proceeds exist when the buys fill
    cash += sum(worst_case_proceeds(o, case.risk) for o in sells)
    for buy in buys:  # every prefix of the queue keeps cash >= 0 at the plan's worst-case prices
        cash -= worst_case_cost(buy, case.risk)
        assert cash >= -EPS


@PROPERTY
@given(cases())
def test_never_sells_what_is_not_held_or_already_being_sold(case: Case) -> None:
    held = {s: p.quantity for s, p in case.portfolio.positions.items()}
    being_sold = {o.symbol: o.quantity for o in case.pending if o.side == "SELL"}
    for o in plan(case):
        assert o.quantity > 0
        if o.side == "SELL":
            assert o.quantity <= held.get(o.symbol, 0) - being_sold.get(o.symbol, 0)


@PROPERTY
@given(cases())
def test_no_buy_takes_a_position_above_its_limit(case: Case) -> None:
    orders = plan(case)
    equity = case.portfolio.equity({s.symbol: s.close for s in case.signals})
    after = holdings_after(case, orders)
    closes = {s.symbol: s.close for s in case.signals}
    for o in orders:
        if o.side == "BUY":
            assert after[o.symbol] * closes[o.symbol] <= case.risk.max_position_weight * equity + EPS


@PROPERTY
@given(cases())
def test_buys_never_take_gross_exposure_above_its_limit(case: Case) -> None:
    orders = plan(case)
    equity = case.portfolio.equity({s.symbol: s.close for s in case.signals})
    mark = marks(case)
    before = sum(q * mark[s] for s, q in holdings_after(case, []).items() if q > 0)
    after = sum(q * mark[s] for s, q in holdings_after(case, orders).items() if q > 0)
    if not any(o.side == "BUY" for o in orders):
        assert after <= before + EPS  # only sells: exposure can only shrink
        return
    # sells smaller than min_order_value are skipped (a position may stay that much above its target)
    slack = case.risk.min_order_value * len(case.signals)
    assert after <= max(case.risk.max_gross_exposure * equity, before) + slack + EPS


@PROPERTY
@given(cases())
def test_limit_orders_carry_a_marketable_limit_and_market_orders_none(case: Case) -> None:
    closes = {s.symbol: s.close for s in case.signals}
    for o in plan(case):
        if case.execution.order_type == "MARKET":
            assert o.limit_price is None
        else:
            assert o.limit_price is not None
            assert o.limit_price >= closes[o.symbol] if o.side == "BUY" else o.limit_price <= closes[o.symbol]
