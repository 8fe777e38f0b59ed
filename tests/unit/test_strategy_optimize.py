"""The vectorized grid agrees with one-at-a-time evaluation; optimize() respects its contract."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_strategy_support import make_bars, reference_fractional
from tradebot.contracts import Scores
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import (
    FillModel,
    evaluate_grid,
    evaluate_params,
    expand_grid,
    get_strategy,
    optimize,
    to_prices,
)
from tradebot.strategy.optimizer import MIN_TEST_BARS

SMA = get_strategy("sma_crossover")
SCORED = ("sharpe", "sortino", "total_return_pct", "cagr_pct", "max_drawdown_pct", "calmar", "exposure_pct")
SMALL_GRID = {"fast": [float(f) for f in range(2, 21)], "slow": [float(s) for s in range(3, 61, 3)]}
TABLE = expand_grid(SMA, SMALL_GRID)


def frac(commission: float) -> FillModel:
    """The optimizer's model: fractional shares, all in, long only."""
    return FillModel(fractional=True, commission=commission)


def assert_scores_close(got: Mapping[str, Any], want: Mapping[str, Any], context: object) -> None:
    assert got["n_trades"] == want["n_trades"], context
    for key in set(want) & set(SCORED):
        assert math.isclose(got[key], want[key], rel_tol=1e-8, abs_tol=1e-8), (context, key, got, want)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(70, 400),
    start_frac=st.floats(0.0, 0.8),
    commission=st.sampled_from([0.0, 0.0005, 0.01]),
    flat=st.booleans(),
    picks=st.lists(st.integers(0, len(TABLE["fast"]) - 1), min_size=5, max_size=5),
)
def test_grid_equals_one_at_a_time(
    seed: int, n: int, start_frac: float, commission: float, flat: bool, picks: list[int]
) -> None:
    # `flat` adds a stretch of constant prices, where the moving averages tie exactly
    bars = make_bars(n, seed=seed, vol=0.02, flat=(n // 3, n // 3 + 25) if flat else None)
    prices = to_prices(bars)
    start = int(start_frac * (n - 3))
    grid = evaluate_grid(prices, SMA, TABLE, start=start, fill=frac(commission))
    for i in picks:
        params = {"fast": TABLE["fast"][i], "slow": TABLE["slow"][i]}
        one = evaluate_params(prices, SMA, params, start=start, fill=frac(commission))
        enter, exit_ = SMA.signals(prices, SMA.parse_params(params))
        ref = reference_fractional(prices.open, prices.close, enter, exit_, start, n, commission)
        assert_scores_close(grid.row(i), one, (params, start))
        assert_scores_close(one, ref, (params, start, "reference"))


def test_grid_equals_one_at_a_time_on_the_full_default_grid() -> None:
    prices = to_prices(make_bars(700, seed=42))
    table = expand_grid(SMA, None)
    assert len(table["fast"]) == 345
    grid = evaluate_grid(prices, SMA, table, start=100, stop=650, fill=frac(0.0005))
    assert grid.n_trades.sum() > 1000
    for i in range(len(table["fast"])):
        params = {"fast": table["fast"][i], "slow": table["slow"][i]}
        one = evaluate_params(prices, SMA, params, start=100, stop=650, fill=frac(0.0005))
        assert_scores_close(grid.row(i), one, params)


def test_grid_order_does_not_matter() -> None:
    prices = to_prices(make_bars(300, seed=7))
    perm = np.random.default_rng(0).permutation(len(TABLE["fast"]))
    shuffled = {k: v[perm] for k, v in TABLE.items()}
    a = evaluate_grid(prices, SMA, TABLE, fill=frac(0.001))
    b = evaluate_grid(prices, SMA, shuffled, fill=frac(0.001))
    np.testing.assert_array_equal(a.n_trades[perm], b.n_trades)
    np.testing.assert_allclose(a.sharpe[perm], b.sharpe, rtol=1e-12)


def test_expand_grid_keeps_valid_sets_in_grid_order() -> None:
    table = expand_grid(SMA, {"fast": [5, 20], "slow": [10, 20, 30]})
    assert list(zip(table["fast"], table["slow"], strict=True)) == [(5, 10), (5, 20), (5, 30), (20, 30)]
    assert expand_grid(SMA, {"slow": [40, 50]})["fast"].tolist() == [10.0, 10.0]  # missing: the default
    big = expand_grid(SMA, {"fast": range(5, 51), "slow": range(10, 201)})
    assert len(big["fast"]) == 7925
    with pytest.raises(InputValidationError, match="unknown parameter"):
        expand_grid(SMA, {"fast": [5], "window": [3]})
    with pytest.raises(InputValidationError, match="no valid"):
        expand_grid(SMA, {"fast": [30], "slow": [10]})
    with pytest.raises(InputValidationError):
        expand_grid(SMA, {"fast": [], "slow": [10]})


# --- optimize -------------------------------------------------------------------------------------------


def test_optimize_contract_and_split() -> None:
    bars = make_bars(1000, seed=12)
    out = optimize(bars, "sma_crossover")
    assert out.train_bars == 700 and out.test_bars == 300 and out.evaluated == 345
    assert out.train_end == bars.index[699].date().isoformat()
    assert set(out.params) == {"fast", "slow"} and out.params["fast"] < out.params["slow"]
    Scores(**out.in_sample)
    assert out.out_of_sample is not None
    Scores(**out.out_of_sample)
    # in sample: the chosen set on the first 700 bars; out of sample: on the last 300 only
    prices = to_prices(bars)
    assert_scores_close(
        out.in_sample, evaluate_params(prices, SMA, out.params, stop=700, fill=frac(0.0005)), "is"
    )
    assert_scores_close(
        out.out_of_sample,
        evaluate_params(prices, SMA, out.params, start=700, fill=frac(0.0005)),
        "oos",
    )
    # it is the best qualifying set by Sharpe
    grid = evaluate_grid(prices, SMA, expand_grid(SMA, None), stop=700, fill=frac(0.0005))
    ok = grid.n_trades >= 2
    assert out.in_sample["sharpe"] == pytest.approx(grid.sharpe[ok].max())
    assert not out.used_default


def test_the_test_bars_do_not_influence_the_choice() -> None:
    bars = make_bars(1000, seed=13)
    changed = bars.copy()
    changed.iloc[700:] = make_bars(1000, seed=14, start_price=300.0).iloc[700:].to_numpy()
    a, b = optimize(bars, "sma_crossover"), optimize(changed, "sma_crossover")
    assert a.params == b.params and a.in_sample == b.in_sample
    assert a.out_of_sample != b.out_of_sample


def test_out_of_sample_counts_only_trades_inside_the_test_window() -> None:
    bars = make_bars(600, seed=15)
    out = optimize(bars, "sma_crossover", grid={"fast": [3], "slow": [7]}, fill=frac(0.0))
    prices = to_prices(bars)
    enter, exit_ = SMA.signals(prices, SMA.parse_params(out.params))
    ref = reference_fractional(prices.open, prices.close, enter, exit_, 420, 600, 0.0)
    assert out.out_of_sample is not None
    assert_scores_close(out.out_of_sample, ref, "oos")
    # entries in the test window: state changes decided in [420, 598]
    assert out.out_of_sample["n_trades"] <= int(enter[420:599].sum())


@pytest.mark.parametrize("min_trades", [0, 5, 20])
def test_min_trades_is_respected(min_trades: int) -> None:
    bars = make_bars(800, seed=16)
    out = optimize(bars, "sma_crossover", min_trades=min_trades, objective="total_return")
    assert out.in_sample["n_trades"] >= min_trades
    grid = evaluate_grid(to_prices(bars), SMA, expand_grid(SMA, None), stop=out.train_bars, fill=frac(0.0005))
    ok = grid.n_trades >= min_trades
    assert out.in_sample["total_return_pct"] == pytest.approx(grid.total_return_pct[ok].max())


def test_no_qualifying_set_falls_back_to_the_defaults() -> None:
    bars = make_bars(800, seed=17)
    out = optimize(bars, "sma_crossover", min_trades=10_000)
    assert out.used_default and out.params == {"fast": 10.0, "slow": 30.0}
    expected = evaluate_params(to_prices(bars), SMA, out.params, stop=out.train_bars, fill=frac(0.0005))
    assert out.in_sample == expected


def test_too_few_bars_for_a_test_split() -> None:
    out = optimize(make_bars(500, seed=18), "sma_crossover", train_fraction=1.0)
    assert out.out_of_sample is None and out.train_bars == 500 and out.test_bars == 0
    n = 60  # 0.7 * 60 leaves 18 < MIN_TEST_BARS test bars: everything trains
    assert n - math.floor(n * 0.7) < MIN_TEST_BARS
    out = optimize(make_bars(n, seed=18), "sma_crossover")
    assert out.out_of_sample is None and out.train_bars == n


def test_sets_that_do_not_fit_the_training_window_are_skipped() -> None:
    out = optimize(make_bars(200, seed=19), "sma_crossover")  # 140 training bars: slow <= 138
    assert out.evaluated == len(
        [1 for f, s in zip(*expand_grid(SMA, None).values(), strict=True) if s + 2 <= 140]
    )
    assert out.params["slow"] + 2 <= 140


def test_too_short_bars_raise_data_quality_error() -> None:
    # the default grid's smallest set (slow=10) needs 12 bars; below 67 bars everything trains
    with pytest.raises(DataQualityError, match=r"needs 12 \(at least 12 bars"):
        optimize(make_bars(11, seed=20), "sma_crossover")
    optimize(make_bars(12, seed=20), "sma_crossover")
    grid = {"fast": [10], "slow": [100]}  # needs 102 training bars: 146 bars at 0.7
    with pytest.raises(DataQualityError, match=r"needs 102 \(at least 146 bars at train_fraction=0.7\)"):
        optimize(make_bars(145, seed=20), "sma_crossover", grid=grid)
    assert optimize(make_bars(146, seed=20), "sma_crossover", grid=grid).train_bars == 102


@pytest.mark.parametrize(
    "kwargs",
    [
        {"objective": "profit"},
        {"train_fraction": 0.0},
        {"train_fraction": 1.5},
        {"min_trades": -1},
        {"folds": 0},
        {"top": -1},
        {"grid": {"fast": [5], "window": [3]}},
    ],
)
def test_optimize_argument_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputValidationError):
        optimize(make_bars(300, seed=21), "sma_crossover", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputValidationError, match="sma_crossover"):
        optimize(make_bars(300, seed=21), "unknown")
