"""Crossover semantics, the position state, no look-ahead, latest_signal and the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_strategy_support import bars_from, make_bars
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import (
    FillModel,
    backtest,
    evaluate_grid,
    evaluate_params,
    get_strategy,
    latest_signal,
    register,
    strategy_names,
    to_prices,
)
from tradebot.strategy.base import BoolArray, StrategyParams
from tradebot.strategy.base import Strategy as BaseStrategy
from tradebot.strategy.indicators import crossover, crossover_full
from tradebot.strategy.prices import Prices
from tradebot.strategy.simulate import position_states

NAN = float("nan")


# --- crossover ------------------------------------------------------------------------------------------


def cross(a: list[float], b: list[float]) -> tuple[list[int], list[int]]:
    up, down = crossover_full(np.array(a), np.array(b))
    return np.flatnonzero(up).tolist(), np.flatnonzero(down).tolist()


def test_crossover_strict_up_and_down() -> None:
    assert cross([1, 2, 3, 2, 1], [2, 2, 2, 2, 2]) == ([], [])  # 2 == 2 ties on both sides
    assert cross([1, 3, 3, 1], [2, 2, 2, 2]) == ([1], [3])


def test_ties_are_not_crosses() -> None:
    # below, equal, above: neither the tie bar nor the bar after it is a cross
    assert cross([1, 2, 3], [2, 2, 2]) == ([], [])
    # above, equal, below: no cross down either
    assert cross([3, 2, 1], [2, 2, 2]) == ([], [])
    # touching and going back
    assert cross([1, 2, 1], [2, 2, 2]) == ([], [])
    # equal on both bars
    assert cross([2, 2], [2, 2]) == ([], [])


def test_nan_warm_up_is_never_a_cross() -> None:
    assert cross([NAN, 1, 3], [NAN, NAN, 2]) == ([], [])
    assert cross([NAN, 1, 3, 1], [NAN, 2, 2, 2]) == ([2], [3])


def test_crossover_broadcasts_one_against_many() -> None:
    fast = np.array([1.0, 3.0, 1.0])
    slow = np.array([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0], [2.0, 3.0, 2.0]])
    up, down = crossover(fast, slow)
    assert up.tolist() == [[True, False], [False, False], [False, False]]
    assert down.tolist() == [[False, True], [False, False], [False, False]]


def test_sma_tie_on_real_bars_is_not_a_cross() -> None:
    s = get_strategy("sma_crossover")
    params = s.parse_params({"fast": 2, "slow": 3})
    tie = to_prices(bars_from([11, 11, 10, 8, 12, 14, 15]))
    assert tie.sma(2)[3] < tie.sma(3)[3]
    assert tie.sma(2)[4] == tie.sma(3)[4] == 10.0  # exact tie at bar 4
    assert tie.sma(2)[5] > tie.sma(3)[5]
    enter, exit_ = s.signals(tie, params)
    assert not enter.any() and not exit_.any()
    # the same path without the tie crosses up at bar 4
    no_tie = to_prices(bars_from([11, 11, 10, 8, 12.5, 14, 15]))
    enter, exit_ = s.signals(no_tie, params)
    assert np.flatnonzero(enter).tolist() == [4] and not exit_.any()
    # and the vectorized grid path agrees (ties included)
    table = {"fast": np.array([2.0]), "slow": np.array([3.0])}
    assert evaluate_grid(tie, s, table).n_trades.tolist() == [0]
    assert evaluate_grid(no_tie, s, table).n_trades.tolist() == [1]


# --- position state ------------------------------------------------------------------------------------


def states(enter: str, exit_: str, start: int = 0) -> tuple[str, list[int]]:
    e = np.array([c == "1" for c in enter])
    x = np.array([c == "1" for c in exit_])
    long, since = position_states(e, x, start)
    return "".join("L" if v else "." for v in long), since.tolist()


def test_position_state_machine() -> None:
    # flat until the first enter; a repeated enter or exit changes nothing
    assert states("0110100", "0001011") == (".LL.L..", [-1, 1, 1, 3, 4, 5, 5])
    # an exit while flat does nothing; a bar with both signals counts as enter
    assert states("0001", "1101") == ("...L", [-1, -1, -1, 3])
    # signals before `start` are ignored: the state starts flat at `start`
    assert states("1000", "0000", start=1) == ("....", [-1, -1, -1, -1])


# --- no look-ahead -------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [60, 137, 210])
def test_changing_bars_after_t_changes_nothing_up_to_the_next_open(t: int) -> None:
    bars = make_bars(260, seed=11)
    other = make_bars(260, seed=99, start_price=50.0)
    changed = bars.copy()
    # bar t+1 keeps its open (the fill price of a decision at t); everything else after t differs
    changed.iloc[t + 1 :, :] = other.iloc[t + 1 :, :].to_numpy()
    changed.iloc[t + 1, changed.columns.get_loc("Open")] = bars["Open"].iloc[t + 1]
    changed["High"] = changed[["High", "Open", "Close"]].max(axis=1)
    changed["Low"] = changed[["Low", "Open", "Close"]].min(axis=1)

    s = get_strategy("sma_crossover")
    params = {"fast": 5.0, "slow": 20.0}
    a, b = to_prices(bars), to_prices(changed)
    ea, xa = s.signals(a, s.parse_params(params))
    eb, xb = s.signals(b, s.parse_params(params))
    assert (ea[: t + 1] == eb[: t + 1]).all() and (xa[: t + 1] == xb[: t + 1]).all()
    assert latest_signal(bars.iloc[: t + 1], "sma_crossover", params) == latest_signal(
        changed.iloc[: t + 1], "sma_crossover", params
    )

    ra = backtest(bars, "sma_crossover", params, commission=0.001)
    rb = backtest(changed, "sma_crossover", params, commission=0.001)
    pd.testing.assert_series_equal(ra.equity.iloc[: t + 1], rb.equity.iloc[: t + 1])
    cutoff = bars.index[t + 1]
    fills_a = [(tr.entry_time, tr.entry_price, tr.size) for tr in ra.trades if tr.entry_time <= cutoff]
    fills_b = [(tr.entry_time, tr.entry_price, tr.size) for tr in rb.trades if tr.entry_time <= cutoff]
    assert fills_a == fills_b


def test_latest_signal_is_the_backtests_decision_at_every_bar() -> None:
    bars = make_bars(120, seed=5)
    s = get_strategy("sma_crossover")
    params = {"fast": 3.0, "slow": 8.0}
    enter, exit_ = s.signals(to_prices(bars), s.parse_params(params))
    long, _ = position_states(enter, exit_)
    for t in range(s.min_bars(s.parse_params(params)) - 1, len(bars)):
        weight, _ = latest_signal(bars.iloc[: t + 1], "sma_crossover", params)
        assert weight == (1.0 if long[t] else 0.0)


# --- latest_signal -------------------------------------------------------------------------------------


def test_latest_signal_long_with_reason() -> None:
    closes = [100.0 - t for t in range(40)] + [60.0 + 2 * t for t in range(1, 21)]
    bars = bars_from(closes)
    weight, reason = latest_signal(bars, "sma_crossover", {"fast": 10.0, "slow": 30.0})
    p = to_prices(bars)
    enter, _ = get_strategy("sma_crossover").signals(
        p, get_strategy("sma_crossover").parse_params({"fast": 10, "slow": 30})
    )
    cross_bar = int(np.flatnonzero(enter)[-1])
    assert weight == 1.0
    assert reason == (
        f"SMA(10)={p.sma(10)[-1]:.2f} > SMA(30)={p.sma(30)[-1]:.2f}: "
        f"long since {bars.index[cross_bar].date().isoformat()} cross up"
    )


def test_latest_signal_flat_after_cross_down_and_before_any_cross() -> None:
    down_up_down = (
        [90.0 - t for t in range(30)] + [60.0 + t for t in range(40)] + [100.0 - 3 * t for t in range(1, 15)]
    )
    weight, reason = latest_signal(bars_from(down_up_down), "sma_crossover", {"fast": 5, "slow": 20})
    assert weight == 0.0 and "< SMA(20)=" in reason and "flat since" in reason and "cross down" in reason
    # a steady rise: fast > slow from the start, but there was never a cross up, so the strategy waits
    weight, reason = latest_signal(
        bars_from([50.0 + t for t in range(40)]), "sma_crossover", {"fast": 5, "slow": 20}
    )
    assert weight == 0.0 and "> SMA(20)=" in reason and "no cross up yet" in reason


def test_latest_signal_needs_min_bars() -> None:
    with pytest.raises(DataQualityError, match="needs at least 32 bars"):
        latest_signal(make_bars(31, seed=1), "sma_crossover", {"fast": 10, "slow": 30})
    latest_signal(make_bars(32, seed=1), "sma_crossover", {"fast": 10, "slow": 30})


# --- registry and parameters ----------------------------------------------------------------------------


def test_registry_lists_and_finds_strategies() -> None:
    assert "sma_crossover" in strategy_names()
    s = get_strategy("sma_crossover")
    assert s.name == "sma_crossover"
    assert s.default_params.as_dict() == {"fast": 10.0, "slow": 30.0}
    with pytest.raises(InputValidationError, match="sma_crossover"):
        get_strategy("no_such_strategy")


@pytest.mark.parametrize(
    "params",
    [
        {"fast": 30, "slow": 10},
        {"fast": 10, "slow": 10},
        {"fast": 1, "slow": 10},
        {"fast": 2.5, "slow": 10},
        {"fast": 5},
        {"fast": 5, "slow": 10, "extra": 1},
        {"fast": "five", "slow": 10},
    ],
)
def test_bad_params_raise_input_validation_error(params: dict[str, object]) -> None:
    s = get_strategy("sma_crossover")
    with pytest.raises(InputValidationError):
        s.parse_params(params)
    with pytest.raises(InputValidationError):
        latest_signal(make_bars(300, seed=1), "sma_crossover", params)  # type: ignore[arg-type]
    with pytest.raises(InputValidationError):
        backtest(make_bars(300, seed=1), "sma_crossover", params)  # type: ignore[arg-type]


def test_params_as_floats_are_accepted() -> None:
    s = get_strategy("sma_crossover")
    assert s.parse_params({"fast": 10.0, "slow": 30.0}).as_dict() == {"fast": 10.0, "slow": 30.0}


def test_bad_bars_raise_data_quality_error() -> None:
    bars = make_bars(100, seed=3)
    nan = bars.copy()
    nan.iloc[50, nan.columns.get_loc("Close")] = float("nan")
    with pytest.raises(DataQualityError, match="Close"):
        latest_signal(nan, "sma_crossover", {"fast": 5, "slow": 20})
    with pytest.raises(DataQualityError, match="sorted"):
        latest_signal(bars.iloc[::-1], "sma_crossover", {"fast": 5, "slow": 20})
    with pytest.raises(DataQualityError, match="missing"):
        latest_signal(bars.drop(columns=["Open"]), "sma_crossover", {"fast": 5, "slow": 20})
    with pytest.raises(DataQualityError, match="empty"):
        latest_signal(bars.iloc[:0], "sma_crossover", {"fast": 5, "slow": 20})
    with pytest.raises(InputValidationError):
        latest_signal([1, 2, 3], "sma_crossover", {"fast": 5, "slow": 20})  # type: ignore[arg-type]


# --- adding a strategy: one class, no vectorized code needed ---------------------------------------------


class CloseAboveParams(StrategyParams):
    window: int


class CloseAboveSma(BaseStrategy[CloseAboveParams]):
    """Level-based toy strategy: long while Close > SMA(window), flat while below."""

    name = "test_close_above_sma"
    params_type = CloseAboveParams

    @property
    def default_params(self) -> CloseAboveParams:
        return CloseAboveParams(window=10)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        return {"window": [3.0, 5.0, 10.0, 20.0]}

    def min_bars(self, params: CloseAboveParams) -> int:
        return params.window + 1

    def signals(self, prices: Prices, params: CloseAboveParams) -> tuple[BoolArray, BoolArray]:
        sma = prices.sma(params.window)
        with np.errstate(invalid="ignore"):
            return prices.close > sma, prices.close < sma


@pytest.fixture
def toy_strategy() -> object:
    from tradebot.strategy import registry

    register(CloseAboveSma)
    yield registry.get_strategy(CloseAboveSma.name)
    registry._REGISTRY.pop(CloseAboveSma.name, None)


def test_a_new_strategy_is_one_registered_class(toy_strategy: CloseAboveSma) -> None:
    assert CloseAboveSma.name in strategy_names()
    bars = make_bars(200, seed=8)
    prices = to_prices(bars)
    table = {"window": np.array([3.0, 5.0, 10.0, 20.0])}
    # the default, set-by-set blocks
    grid = evaluate_grid(prices, toy_strategy, table, fill=FillModel(commission=0.001))
    for i, w in enumerate(table["window"]):
        one = evaluate_params(prices, toy_strategy, {"window": w}, fill=FillModel(commission=0.001))
        assert grid.row(i) == pytest.approx(one, rel=1e-9, abs=1e-9)
    assert backtest(bars, CloseAboveSma.name, {"window": 5}).stats["n_trades"] == grid.n_trades[1]
