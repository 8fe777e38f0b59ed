"""Property tests (hypothesis) over every strategy and fill model:

* no fill uses a price after its decision bar's next open, and changing everything after bar t (but bar
  t+1's open) changes nothing up to bar t's equity and bar t+1's fills;
* equity = cash + shares x Close at every bar, with cash and shares rebuilt from the trade list alone;
* the grid engine gives the same scores as one-at-a-time backtests for a random sample of its sets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_strategy_support import make_bars
from tradebot.strategy import (
    FillModel,
    backtest,
    evaluate_grid,
    evaluate_params,
    expand_grid,
    get_strategy,
    strategy_names,
    to_prices,
)
from tradebot.strategy.base import table_row
from tradebot.strategy.simulate import target_states

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCORED = ("sharpe", "sortino", "total_return_pct", "cagr_pct", "max_drawdown_pct", "calmar", "exposure_pct")


@st.composite
def fill_models(draw: st.DrawFn) -> FillModel:
    fixed = draw(st.booleans())
    return FillModel(
        cash=draw(st.sampled_from([1_000.0, 10_000.0, 1e6])),
        commission=draw(st.sampled_from([0.0, 0.0005, 0.003])),
        commission_per_share=draw(st.sampled_from([0.0, 0.01])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0])),
        fractional=draw(st.booleans()),
        sizing="fixed_fraction" if fixed else "all_in",
        fraction=draw(st.sampled_from([0.3, 0.75])) if fixed else 1.0,
        long_short=draw(st.booleans()),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, dict[str, float], pd.DataFrame]:
    """A strategy, one set of its default grid, and synthetic bars long enough for it."""
    name = draw(st.sampled_from(strategy_names()))
    strat = get_strategy(name)
    table = expand_grid(strat, None)
    i = draw(st.integers(0, len(next(iter(table.values()))) - 1))
    params = strat.parse_params(table_row(table, i))
    n = draw(st.integers(strat.min_bars(params) + 20, strat.min_bars(params) + 400))
    flat = draw(st.booleans())
    bars = make_bars(
        n,
        seed=draw(st.integers(0, 2**32 - 1)),
        vol=draw(st.sampled_from([0.01, 0.03])),
        flat=(n // 2, n // 2 + 15) if flat else None,
    )
    return name, params.as_dict(), bars


@SETTINGS
@given(case=cases(), fill=fill_models(), cut=st.floats(0.2, 0.9))
def test_no_fill_uses_a_price_after_its_decision_bars_next_open(
    case: tuple[str, dict[str, float], pd.DataFrame], fill: FillModel, cut: float
) -> None:
    name, params, bars = case
    strat = get_strategy(name)
    result = backtest(bars, name, params, fill=fill)
    prices = to_prices(bars)
    enter, exit_ = strat.signals(prices, strat.parse_params(params))
    state, _ = target_states(enter, exit_, long_short=fill.long_short)
    opens = bars["Open"].to_numpy()
    for trade in result.trades:
        e = trade.entry_bar
        # an entry fills at the open right after the decision that changed the state
        assert e >= 1 and state[e - 1] != (state[e - 2] if e >= 2 else 0)
        side = 1 if trade.size > 0 else -1
        assert trade.entry_price == opens[e] * (1 + side * fill.slippage)
        if trade.exit_bar is not None and not (result.stats["bust"] and trade is result.trades[-1]):
            x = trade.exit_bar
            assert x > e and trade.exit_price == opens[x] * (1 - side * fill.slippage)

    # everything after bar t changes, except bar t+1's open: nothing up to t changes, nor t+1's fills
    t = max(int(cut * (len(bars) - 2)), 1)
    other = make_bars(len(bars), seed=12345, start_price=77.0)
    changed = bars.copy()
    changed.iloc[t + 1 :] = other.iloc[t + 1 :].to_numpy()
    changed.iloc[t + 1, changed.columns.get_loc("Open")] = bars["Open"].iloc[t + 1]
    again = backtest(changed, name, params, fill=fill)
    pd.testing.assert_series_equal(result.equity.iloc[: t + 1], again.equity.iloc[: t + 1])

    def fills_until(r: Any) -> list[tuple[Any, ...]]:
        out = [(tr.entry_bar, tr.entry_price, tr.size) for tr in r.trades if tr.entry_bar <= t + 1]
        out += [
            (tr.exit_bar, tr.exit_price)
            for tr in r.trades
            if tr.exit_bar is not None and tr.exit_bar <= t + 1
        ]
        return out

    if not (result.stats["bust"] or again.stats["bust"]):  # a bust closes at a close, not an open
        assert fills_until(result) == fills_until(again)


@SETTINGS
@given(case=cases(), fill=fill_models())
def test_equity_is_cash_plus_marked_positions_rebuilt_from_the_trades(
    case: tuple[str, dict[str, float], pd.DataFrame], fill: FillModel
) -> None:
    name, params, bars = case
    result = backtest(bars, name, params, fill=fill)
    n = len(bars)
    close = bars["Close"].to_numpy()
    shares = np.zeros(n)
    cash = np.full(n, fill.cash)
    for tr in result.trades:
        stop = n if tr.exit_bar is None else tr.exit_bar
        shares[tr.entry_bar : stop] += tr.size
        entry_fee = abs(tr.size) * tr.entry_price * fill.commission + abs(tr.size) * fill.commission_per_share
        cash[tr.entry_bar :] -= tr.size * tr.entry_price + entry_fee
        if tr.exit_bar is not None:
            cash[tr.exit_bar :] += tr.size * tr.exit_price - (tr.commission - entry_fee)
        assert math.isclose(
            tr.pnl, (tr.exit_price - tr.entry_price) * tr.size - tr.commission, rel_tol=1e-9, abs_tol=1e-6
        )
        if not fill.fractional:
            assert tr.size == round(tr.size)
    marked = cash + shares * close
    if result.stats["bust"]:
        b = int(np.flatnonzero(bars.index == pd.Timestamp(result.stats["bust"]))[0])
        marked[b:] = 0.0
    np.testing.assert_allclose(result.equity.to_numpy(), marked, rtol=1e-9, atol=1e-6 * fill.cash)
    np.testing.assert_allclose(result.position.to_numpy(), np.where(marked > 0, shares, 0.0), atol=1e-9)
    if not fill.long_short:
        assert (result.cash.to_numpy() >= -1e-9 * fill.cash).all()  # long only never borrows
        assert (result.position.to_numpy() >= 0).all()


@SETTINGS
@given(
    name=st.sampled_from(strategy_names()),
    fill=fill_models(),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(150, 600),
    window=st.tuples(st.floats(0.0, 0.5), st.floats(0.6, 1.0)),
    picks=st.lists(st.integers(0, 10**6), min_size=4, max_size=4),
)
def test_grid_equals_one_at_a_time_backtests(
    name: str, fill: FillModel, seed: int, n: int, window: tuple[float, float], picks: list[int]
) -> None:
    strat = get_strategy(name)
    bars = make_bars(n, seed=seed, vol=0.02, flat=(n // 3, n // 3 + 20))
    prices = to_prices(bars)
    table = expand_grid(strat, None)
    size = len(next(iter(table.values())))
    start, stop = int(window[0] * n), max(int(window[1] * n), int(window[0] * n) + 2)
    grid = evaluate_grid(prices, strat, table, start=start, stop=stop, fill=fill)
    full = evaluate_grid(prices, strat, table, fill=fill)
    for pick in picks:
        i = pick % size
        params = table_row(table, i)
        one = evaluate_params(prices, strat, params, start=start, stop=stop, fill=fill)
        context = (name, params, start, stop, fill.describe())
        assert grid.row(i)["n_trades"] == one["n_trades"], context
        for key in SCORED:
            assert math.isclose(grid.row(i)[key], one[key], rel_tol=1e-8, abs_tol=1e-8), (context, key)  # type: ignore[literal-required]
        if strat.min_bars(strat.parse_params(params)) <= n:  # and the whole-series backtest
            stats = backtest(bars, name, params, fill=fill).stats
            assert full.row(i)["n_trades"] == stats["n_trades"], context
            for key in SCORED:
                assert math.isclose(full.row(i)[key], stats[key], rel_tol=1e-8, abs_tol=1e-8), (context, key)  # type: ignore[literal-required]
