"""Fill model by hand: slippage, per-share commission, fixed-fraction and fractional sizing, long/short,
bust; and the total-return price adjustment."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_strategy_backtest import CLOSES, OPENS, P23
from tests.unit.test_strategy_support import bars_from, make_bars
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import (
    FillModel,
    backtest,
    evaluate_grid,
    evaluate_params,
    expand_grid,
    fill_model,
    get_strategy,
    latest_signal,
    to_prices,
)

# fast=2 / slow=3 on CLOSES: cross up at bar 4 (buy at bar 5's open 12.5), cross down at bar 7 (bar 8: 8.5)


def test_slippage_and_per_share_commission_round_trip() -> None:
    fill = FillModel(cash=1000, commission=0.01, commission_per_share=0.05, slippage_bps=10)
    result = backtest(bars_from(CLOSES, OPENS), "sma_crossover", P23, fill=fill)
    [trade] = result.trades
    buy, sell = 12.5 * 1.001, 8.5 * 0.999
    size = math.floor(1000 / (buy * 1.01 + 0.05))
    assert size == 78 and trade.size == size  # 79 would cost 1002.30
    assert trade.entry_price == pytest.approx(buy) and trade.exit_price == pytest.approx(sell)
    entry_fee = size * buy * 0.01 + size * 0.05
    exit_fee = size * sell * 0.01 + size * 0.05
    cash = 1000 - size * buy - entry_fee + size * sell - exit_fee
    assert trade.commission == pytest.approx(entry_fee + exit_fee)
    assert result.stats["final_equity"] == pytest.approx(cash)
    held = 1000 - size * buy - entry_fee
    assert result.equity.iloc[5:8].to_numpy() == pytest.approx([held + size * c for c in CLOSES[5:8]])


def test_fixed_fraction_and_fractional_sizing() -> None:
    bars = bars_from(CLOSES, OPENS)
    half = backtest(
        bars,
        "sma_crossover",
        P23,
        fill=FillModel(cash=1000, commission=0.01, sizing="fixed_fraction", fraction=0.5),
    )
    assert half.trades[0].size == math.floor(500 / (12.5 * 1.01)) == 39
    assert half.cash.iloc[5] == pytest.approx(1000 - 39 * 12.5 * 1.01)
    frac = backtest(bars, "sma_crossover", P23, fill=FillModel(cash=1000, commission=0.01, fractional=True))
    assert frac.trades[0].size == pytest.approx(1000 / (12.5 * 1.01))
    assert frac.cash.iloc[5] == pytest.approx(0.0, abs=1e-9)  # all in, nothing left
    assert frac.stats["final_equity"] == pytest.approx(1000 / 1.01 * 8.5 / 12.5 * 0.99)


def test_long_short_reverses_on_the_exit_signal() -> None:
    bars = bars_from(CLOSES, OPENS)
    result = backtest(bars, "sma_crossover", P23, fill=FillModel(cash=1000, commission=0.01, long_short=True))
    long, short = result.trades
    assert long.size == 79 and long.exit_time == bars.index[8]
    cash = 1000 - 79 * 12.5 * 1.01 + 79 * 8.5 * 0.99  # after closing the long at bar 8's open
    q = math.floor(cash / (8.5 * 1.01))
    assert short.size == -q and short.entry_time == bars.index[8] and short.is_open
    assert short.entry_price == 8.5 and short.exit_price == 8.0
    cash += q * 8.5 * 0.99
    assert result.stats["final_equity"] == pytest.approx(cash - q * 8.0)
    assert result.position.iloc[-1] == -q
    assert short.pnl == pytest.approx(q * (8.5 - 8.0) - q * 8.5 * 0.01)
    assert latest_signal(bars, "sma_crossover", P23, long_short=True)[0] == -1.0
    assert latest_signal(bars, "sma_crossover", P23)[0] == 0.0


def test_a_short_that_loses_everything_is_bust_and_stops_trading() -> None:
    # cross down then a price that triples: the all-in short is wiped out at a close
    closes = [10.0, 10.0, 10.0, 12.0, 9.0, 8.0, 8.0, 8.0, 20.0, 30.0, 40.0, 30.0, 20.0, 10.0, 5.0]
    bars = bars_from(closes)
    result = backtest(bars, "sma_crossover", P23, fill=FillModel(cash=1000, long_short=True))
    assert result.stats["bust"] is not None
    b = bars.index.get_loc(pd.Timestamp(result.stats["bust"]))
    assert (result.equity.iloc[b:] == 0).all() and (result.equity.iloc[:b] > 0).all()
    assert result.stats["max_drawdown_pct"] == -100.0
    assert all(t.entry_bar <= b for t in result.trades)


def test_fill_model_validation() -> None:
    with pytest.raises(InputValidationError, match="fraction"):
        fill_model(None, fraction=0.5)  # fraction needs fixed_fraction sizing
    with pytest.raises(InputValidationError, match="commission"):
        fill_model(None, commission=-0.001)
    with pytest.raises(InputValidationError, match="cash"):
        backtest(make_bars(100, seed=1), "sma_crossover", P23, cash=0)
    with pytest.raises(InputValidationError, match="slippage_bps"):
        fill_model({"slippage_bps": 1e6})
    assert fill_model(FillModel(commission=0.001), cash=5.0) == FillModel(commission=0.001, cash=5.0)
    assert FillModel(fractional=True).multiplicative and not FillModel().multiplicative
    assert not FillModel(fractional=True, long_short=True).multiplicative


# --- total-return adjustment ----------------------------------------------------------------------------


def test_total_return_scales_ohlc_by_adj_close_over_close() -> None:
    bars = make_bars(50, seed=2)
    factor = np.linspace(0.8, 1.0, 50)
    bars["Adj Close"] = bars["Close"] * factor
    raw, adjusted = to_prices(bars), to_prices(bars, "total_return")
    for name in ("open", "high", "low", "close"):
        np.testing.assert_allclose(getattr(adjusted, name), getattr(raw, name) * factor)
    assert adjusted.adjust == "total_return"
    with pytest.raises(InputValidationError, match="adjusted"):
        to_prices(raw, "total_return")  # a Prices is never silently re-adjusted
    with pytest.raises(InputValidationError, match="unknown price adjustment"):
        to_prices(bars, "split")
    with pytest.raises(DataQualityError, match="Adj Close"):
        to_prices(bars.drop(columns=["Adj Close"]), "total_return")


def test_total_return_with_a_constant_factor_changes_prices_not_fractional_returns() -> None:
    bars = make_bars(400, seed=4)
    bars["Adj Close"] = bars["Close"] * 0.5
    fill = FillModel(fractional=True, commission=0.001)
    raw = backtest(bars, "sma_crossover", {"fast": 5, "slow": 20}, fill=fill)
    adj = backtest(bars, "sma_crossover", {"fast": 5, "slow": 20}, fill=fill, adjust="total_return")
    assert [t.entry_time for t in raw.trades] == [t.entry_time for t in adj.trades]
    assert adj.trades[0].entry_price == pytest.approx(raw.trades[0].entry_price * 0.5)
    np.testing.assert_allclose(adj.equity.to_numpy(), raw.equity.to_numpy(), rtol=1e-9)
    assert adj.stats["adjust"] == "total_return"


@pytest.mark.parametrize("fractional", [False, True])
def test_the_grid_engine_agrees_on_bust_accounts(fractional: bool) -> None:
    closes = [10.0, 10.0, 10.0, 12.0, 9.0, 8.0, 8.0, 8.0, 20.0, 30.0, 40.0, 30.0, 20.0, 10.0, 5.0, 6.0, 7.0]
    prices = to_prices(bars_from(closes))
    sma = get_strategy("sma_crossover")
    table = expand_grid(sma, {"fast": [2, 3], "slow": [3, 4, 5]})
    fill = FillModel(cash=1000, commission=0.001, long_short=True, fractional=fractional)
    grid = evaluate_grid(prices, sma, table, fill=fill)
    busted = 0
    for i in range(len(table["fast"])):
        params = {"fast": table["fast"][i], "slow": table["slow"][i]}
        one = evaluate_params(prices, sma, params, fill=fill)
        assert grid.row(i) == pytest.approx(one, rel=1e-9, abs=1e-9), params
        busted += one["max_drawdown_pct"] == -100.0
    assert busted >= 2  # the case this test is about
