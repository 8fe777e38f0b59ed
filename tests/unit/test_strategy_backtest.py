"""The whole-share backtest: fills at the next open, all-in sizing, commission, equity identity."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_strategy_support import bars_from, make_bars
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import FillModel, backtest

# fast=2 / slow=3 on these closes: SMA2 crosses above SMA3 at bar 4 and below it at bar 7
CLOSES = [10.0, 10.0, 9.0, 8.0, 12.0, 14.0, 13.0, 9.0, 8.0, 8.0]
OPENS = [10.0, 10.0, 9.5, 8.5, 11.0, 12.5, 13.5, 11.0, 8.5, 8.0]
P23 = {"fast": 2.0, "slow": 3.0}


def test_hand_computed_round_trip_with_commission() -> None:
    bars = bars_from(CLOSES, OPENS)
    result = backtest(bars, "sma_crossover", P23, cash=1000, commission=0.01)
    # cross up at bar 4's close -> buy at bar 5's open 12.5: floor(1000 / (12.5 * 1.01)) = 79 shares,
    # cost 987.5 + commission 9.875 -> cash 2.625
    # cross down at bar 7's close -> sell at bar 8's open 8.5: 671.5 - commission 6.715 -> cash 667.41
    [trade] = result.trades
    assert trade.entry_time == bars.index[5] and trade.exit_time == bars.index[8]
    assert (trade.entry_price, trade.exit_price, trade.size) == (12.5, 8.5, 79)
    assert trade.commission == pytest.approx(9.875 + 6.715)
    assert trade.pnl == pytest.approx(79 * (8.5 - 12.5) - 9.875 - 6.715)
    expected = [1000.0] * 5 + [2.625 + 79 * 14, 2.625 + 79 * 13, 2.625 + 79 * 9, 667.41, 667.41]
    assert result.equity.to_numpy() == pytest.approx(expected)
    assert result.equity.index.equals(bars.index)
    stats = result.stats
    assert stats["final_equity"] == pytest.approx(667.41)
    assert stats["total_return_pct"] == pytest.approx(-33.259)
    assert stats["n_trades"] == 1 and stats["n_closed_trades"] == 1 and stats["win_rate_pct"] == 0.0
    assert stats["commission_paid"] == pytest.approx(16.59)
    assert stats["buy_and_hold_return_pct"] == pytest.approx(-20.0)
    assert stats["max_drawdown_pct"] == pytest.approx((667.41 / 1108.625 - 1) * 100)
    assert stats["exposure_pct"] == pytest.approx(30.0)


def test_without_commission_the_size_is_cash_over_price() -> None:
    result = backtest(bars_from(CLOSES, OPENS), "sma_crossover", P23, cash=1000)
    [trade] = result.trades
    assert trade.size == 80  # 80 * 12.5 == 1000 exactly: all in, nothing left
    assert result.stats["final_equity"] == pytest.approx(80 * 8.5)


def test_a_decision_on_the_last_bar_has_no_fill() -> None:
    bars = bars_from(CLOSES[:5], OPENS[:5])  # the cross up happens on the last bar
    result = backtest(bars, "sma_crossover", P23, cash=1000)
    assert result.trades == [] and (result.equity == 1000).all()


def test_a_trade_open_at_the_end_is_marked_at_the_last_close() -> None:
    bars = bars_from(CLOSES[:7], OPENS[:7])
    result = backtest(bars, "sma_crossover", P23, cash=1000, commission=0.01)
    [trade] = result.trades
    assert trade.is_open and trade.exit_time is None and trade.exit_price == 13.0
    assert trade.pnl == pytest.approx(79 * (13.0 - 12.5) - 9.875)
    assert result.stats["final_equity"] == pytest.approx(2.625 + 79 * 13.0)
    assert result.stats["n_trades"] == 1 and result.stats["n_closed_trades"] == 0
    assert result.stats["win_rate_pct"] is None and result.stats["open_position"] == 79


def test_cash_below_one_share_skips_the_entry() -> None:
    result = backtest(bars_from(CLOSES, OPENS), "sma_crossover", P23, cash=12.0)
    assert result.trades == [] and (result.equity == 12.0).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("commission", [0.0, 0.002])
def test_equity_is_cash_plus_shares_times_close_at_every_bar(seed: int, commission: float) -> None:
    bars = make_bars(500, seed=seed)
    cash = 10_000.0
    result = backtest(bars, "sma_crossover", {"fast": 5, "slow": 15}, cash=cash, commission=commission)
    assert len(result.trades) >= 5
    balance = np.full(len(bars), cash)
    shares = np.zeros(len(bars))
    for tr in result.trades:
        held = (bars.index >= tr.entry_time) & (
            bars.index < tr.exit_time if tr.exit_time is not None else np.ones(len(bars), dtype=bool)
        )
        shares[held] += tr.size
        balance[bars.index >= tr.entry_time] -= tr.size * tr.entry_price * (1 + commission)
        if tr.exit_time is not None:
            balance[bars.index >= tr.exit_time] += tr.size * tr.exit_price * (1 - commission)
        # all in: the next share would not have been affordable
        before = balance[bars.index.get_loc(tr.entry_time) - 1]  # cash at the previous close
        assert tr.size * tr.entry_price * (1 + commission) <= before + 1e-9
        assert (tr.size + 1) * tr.entry_price * (1 + commission) > before
        # fills are at the open of the fill bar
        assert tr.entry_price == bars["Open"].loc[tr.entry_time]
    assert (balance >= -1e-9).all()
    np.testing.assert_allclose(
        result.equity.to_numpy(), balance + shares * bars["Close"].to_numpy(), rtol=1e-12
    )
    assert result.stats["exposure_pct"] == pytest.approx(100 * (shares > 0).mean())


@pytest.mark.parametrize("commission", [0.0, 0.0005])
def test_whole_shares_converge_to_fractional_shares(commission: float) -> None:
    bars = make_bars(400, seed=21)
    params = {"fast": 4, "slow": 12}
    frac = backtest(bars, "sma_crossover", params, fill=FillModel(fractional=True, commission=commission))
    whole = backtest(bars, "sma_crossover", params, cash=1e10, commission=commission)
    assert frac.stats["n_trades"] == whole.stats["n_trades"] > 5
    assert [t.entry_time for t in frac.trades] == [t.entry_time for t in whole.trades]
    assert all(t.size != round(t.size) for t in frac.trades)  # really fractional
    # sizing differs by less than one share per trade out of ~1e8
    np.testing.assert_allclose(whole.equity.to_numpy() / 1e10, frac.equity.to_numpy() / 10_000, rtol=1e-6)


def test_backtest_input_errors() -> None:
    bars = make_bars(100, seed=4)
    with pytest.raises(InputValidationError):
        backtest(bars, "sma_crossover", P23, cash=0)
    with pytest.raises(InputValidationError):
        backtest(bars, "sma_crossover", P23, cash=float("nan"))
    with pytest.raises(InputValidationError):
        backtest(bars, "sma_crossover", P23, commission=-0.01)
    with pytest.raises(InputValidationError, match=r"valid: .*sma_crossover"):
        backtest(bars, "nope", P23)
    with pytest.raises(DataQualityError, match="needs at least 52 bars"):
        backtest(bars.iloc[:51], "sma_crossover", {"fast": 10, "slow": 50})


def test_default_params_and_stats_shape() -> None:
    bars = make_bars(300, seed=6)
    result = backtest(bars, "sma_crossover", None)
    assert result.params == {"fast": 10.0, "slow": 30.0}
    assert isinstance(result.equity, pd.Series) and len(result.equity) == 300
    for key in (
        "final_equity",
        "total_return_pct",
        "n_trades",
        "sharpe",
        "max_drawdown_pct",
        "buy_and_hold_return_pct",
    ):
        assert key in result.stats
    assert math.isfinite(result.stats["sharpe"]) and result.stats["max_drawdown_pct"] <= 0
    assert result.trades[0].as_dict().keys() >= {
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "size",
        "pnl",
    }
