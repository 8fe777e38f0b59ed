"""Metric formulas by hand; objectives, min-trades, walk-forward folds and the robustness choice."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_strategy_support import make_bars
from tradebot.errors import DataQualityError
from tradebot.strategy import (
    OBJECTIVES,
    FillModel,
    evaluate_grid,
    evaluate_params,
    expand_grid,
    get_strategy,
    optimize,
    to_prices,
)
from tradebot.strategy.metrics import drawdown_duration, equity_scores, performance
from tradebot.strategy.optimizer import MIN_TEST_BARS, _windows, max_folds

SMA = get_strategy("sma_crossover")
FRAC = FillModel(fractional=True, commission=0.0005)


# --- metrics -------------------------------------------------------------------------------------------


def test_scores_by_hand() -> None:
    equity = np.array([100.0, 110.0, 99.0, 121.0])
    r = [0.1, -0.1, 121 / 99 - 1]
    mean, std = statistics.mean(r), statistics.stdev(r)
    s = equity_scores(equity, 2, days=365.25, exposure_bars=3)
    assert s["sharpe"] == pytest.approx(math.sqrt(252) * mean / std)
    assert s["sortino"] == pytest.approx(math.sqrt(252) * mean / math.sqrt(0.01 / 3))
    assert s["total_return_pct"] == pytest.approx(21.0)
    assert s["cagr_pct"] == pytest.approx(21.0)  # exactly one year
    assert s["max_drawdown_pct"] == pytest.approx((99 / 110 - 1) * 100)
    assert s["calmar"] == pytest.approx(21.0 / 10.0)
    assert s["exposure_pct"] == 75.0 and s["n_trades"] == 2
    two_years = equity_scores(equity, 2, days=2 * 365.25)
    assert two_years["cagr_pct"] == pytest.approx((math.sqrt(1.21) - 1) * 100)


def test_no_losing_day_and_no_drawdown_give_zero_ratios() -> None:
    s = equity_scores(np.array([100.0, 101.0, 102.0]), 1, days=2)
    assert s["sortino"] == 0.0 and s["calmar"] == 0.0 and s["max_drawdown_pct"] == 0.0


def test_drawdown_duration_runs_from_the_peak_to_the_recovery() -> None:
    assert drawdown_duration(np.array([1.0, 2.0, 1.5, 1.8, 2.0, 2.5, 2.4])) == (3, 1, 4)
    assert drawdown_duration(np.array([1.0, 2.0, 3.0])) == (0, 0, 0)  # never below a peak: no drawdown
    assert drawdown_duration(np.array([1.0, 1.0, 1.0])) == (0, 0, 0)  # flat
    assert drawdown_duration(np.array([1.0, 2.0, 1.5, 3.0])) == (2, 1, 3)  # one bar below: peak to recovery
    assert drawdown_duration(np.array([3.0, 2.0, 1.0, 2.5])) == (3, 0, 3)  # not recovered: to the end


def test_trade_statistics() -> None:
    equity = pd.Series([100.0, 110.0, 105.0, 120.0], index=pd.bdate_range("2024-01-01", periods=4))
    stats = performance(
        equity, np.array([10.0, 11.0, 10.0, 13.0]), [10.0, -5.0, 15.0], [10.0, -4.5, 14.0], 3, 3
    )
    assert stats["win_rate_pct"] == pytest.approx(200 / 3)
    assert stats["profit_factor"] == pytest.approx(25 / 5)
    assert stats["avg_trade_pct"] == pytest.approx((10 - 4.5 + 14) / 3)
    assert (stats["best_trade_pct"], stats["worst_trade_pct"]) == (14.0, -4.5)
    assert stats["buy_and_hold_return_pct"] == pytest.approx(30.0)
    assert stats["equity_peak"] == 120.0 and stats["n_closed_trades"] == 3
    none = performance(equity, np.array([10.0] * 4), [], [], 0, 0)
    assert none["win_rate_pct"] is None and none["profit_factor"] is None


# --- objectives ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("min_trades", [1, 8])
def test_each_objective_picks_the_best_qualifying_set(objective: str, min_trades: int) -> None:
    bars = make_bars(900, seed=23)
    out = optimize(bars, "sma_crossover", objective=objective, min_trades=min_trades, fill=FRAC)
    grid = evaluate_grid(to_prices(bars), SMA, expand_grid(SMA, None), stop=out.train_bars, fill=FRAC)
    key = OBJECTIVES[objective]
    ok = grid.n_trades >= min_trades
    assert out.in_sample[key] == pytest.approx(grid.column(key)[ok].max())  # type: ignore[literal-required]
    assert out.in_sample["n_trades"] >= min_trades
    # the top list is in objective order, all qualifying, with out-of-sample scores
    values = [r.in_sample[key] for r in out.top]  # type: ignore[literal-required]
    assert values == sorted(values, reverse=True) and len(out.top) == 10
    assert all(r.in_sample["n_trades"] >= min_trades and r.out_of_sample is not None for r in out.top)
    assert out.top[0].params == out.params


# --- walk-forward --------------------------------------------------------------------------------------


def test_fold_windows() -> None:
    assert _windows(1000, 0.6, 4, anchored=False) == [
        (0, 600, 600, 700),  # rolling: the 600 bars before each test window
        (100, 700, 700, 800),
        (200, 800, 800, 900),
        (300, 900, 900, 1000),
    ]
    assert [w[:2] for w in _windows(1000, 0.6, 4, anchored=True)] == [(0, 600), (0, 700), (0, 800), (0, 900)]
    assert _windows(1000, 0.7, 1, anchored=False) == [(0, 700, 700, 1000)]
    assert max_folds(750, 3) == 3 and max_folds(100, 3) == 1 and max_folds(200, 5) == 3
    with pytest.raises(DataQualityError, match="too few for 5 walk-forward folds"):
        optimize(make_bars(200, seed=1), "sma_crossover", folds=5, grid={"fast": [3], "slow": [8]})
    assert 60 // MIN_TEST_BARS == 3


@pytest.mark.parametrize("anchored", [False, True])
def test_walk_forward_folds_and_the_robust_choice(anchored: bool) -> None:
    bars = make_bars(1500, seed=29, vol=0.02)
    prices = to_prices(bars)
    table = expand_grid(SMA, None)
    out = optimize(bars, "sma_crossover", folds=4, anchored=anchored, fill=FRAC, train_fraction=0.6)
    assert out.mode == ("anchored" if anchored else "rolling") and len(out.folds) == 4
    windows = _windows(1500, 0.6, 4, anchored)
    for fold, (a, b, c, d) in zip(out.folds, windows, strict=True):
        assert (fold.train_start, fold.train_end) == (prices.date(a), prices.date(b - 1))
        assert (fold.test_start, fold.test_end) == (prices.date(c), prices.date(d - 1))
        # the fold's winner is the in-sample best; its test score is the same set on the test window
        grid = evaluate_grid(prices, SMA, table, start=a, stop=b, fill=FRAC)
        ok = grid.n_trades >= 2
        assert fold.in_sample["sharpe"] == pytest.approx(grid.sharpe[ok].max())
        oos = evaluate_params(prices, SMA, fold.params, start=c, stop=d, fill=FRAC)
        assert fold.out_of_sample is not None and fold.out_of_sample["sharpe"] == pytest.approx(oos["sharpe"])
    # robustness of the winner of fold k: median Sharpe on test windows k.. (never its training data)
    robust = {}
    for k, fold in enumerate(out.folds):
        values = [
            evaluate_params(prices, SMA, fold.params, start=c, stop=d, fill=FRAC)["sharpe"]
            for _, _, c, d in windows[k:]
        ]
        robust.setdefault(tuple(fold.params.items()), (statistics.median(values), len(values), -k))
    best = max(robust.items(), key=lambda kv: kv[1])
    assert out.params == dict(best[0])
    assert [r.robustness for r in out.top] == pytest.approx(
        sorted((v[0] for v in robust.values()), reverse=True)
    )
    # reported scores: its own training window, and its test windows as one span to the end
    k = -best[1][2]
    a, b, c, _ = windows[k]
    assert out.in_sample == out.folds[k].in_sample and out.train_bars == b - a
    assert out.out_of_sample == evaluate_params(prices, SMA, out.params, start=c, stop=1500, fill=FRAC)
    assert out.test_bars == 1500 - c


def test_fold_winners_do_not_look_at_their_test_windows() -> None:
    bars = make_bars(1200, seed=31)
    changed = bars.copy()
    changed.iloc[1000:] = make_bars(1200, seed=32, start_price=250.0).iloc[1000:].to_numpy()
    a = optimize(bars, "sma_crossover", folds=3, fill=FRAC, train_fraction=0.75)
    b = optimize(changed, "sma_crossover", folds=3, fill=FRAC, train_fraction=0.75)
    # tests 900-1000, 1000-1100, 1100-1200; trains the 900 bars before each: bars 1000+ are in fold 2's
    # test window and in fold 3, never in fold 1 nor in fold 2's training window
    assert a.folds[0] == b.folds[0]
    assert (a.folds[1].params, a.folds[1].in_sample) == (b.folds[1].params, b.folds[1].in_sample)
