"""Parameter search: a whole grid scored at once, chosen in sample, judged out of sample (walk-forward).

Folds. ``n`` bars, ``L = floor(n * train_fraction)``:

* ``folds=1`` (a single split): bars ``[0, L)`` train, ``[L, n)`` test. When the test part would have
  fewer than ``MIN_TEST_BARS`` bars (or ``train_fraction == 1``), all bars train and there is no
  out-of-sample score.
* ``folds=K > 1`` (walk-forward): ``[L, n)`` is cut into K consecutive test windows of (nearly) equal
  length, each at least ``MIN_TEST_BARS`` bars. Fold k tests on its window and trains on the L bars just
  before it (``rolling``) or on every bar before it (``anchored``).

In every fold, every valid set of the grid (default: the strategy's ``default_grid``) whose ``min_bars``
fits in L is scored at once by :func:`~tradebot.strategy.engine.evaluate_grid` on the training window
and on the test window, with the same :class:`~tradebot.strategy.fills.FillModel`. The fold's winner is
the best set by ``objective`` among those with at least ``min_trades`` trades in its training window
(ties: the first in grid order); if none qualifies, the strategy's defaults (``used_default``).

Choice, by out-of-sample robustness: the candidates are the folds' winners (chosen in sample). A
candidate that won fold j is judged on the test windows of folds j..K only (all after its training
window): its robustness is the median of its objective there. The most robust candidate is chosen
(ties: more test windows, then the earlier fold). With one fold this is simply the in-sample winner.
The selection among K candidates does look at the test windows, so the chosen set's out-of-sample score
is mildly optimistic; the per-fold winners' out-of-sample scores (``folds``) are the unbiased
walk-forward estimate and are reported alongside.

Windows: every window starts flat; indicators are computed on the whole series (so they are warm), but
only signals, trades and returns inside the window count. Reported scores: ``in_sample`` is the chosen
set on its fold's training window, ``out_of_sample`` the chosen set over its test windows as one span
(from its fold's test start to the last bar).

Objectives (:data:`OBJECTIVES`, formulas in :mod:`tradebot.strategy.metrics`): ``sharpe``, ``sortino``,
``calmar`` and ``total_return``. ``elapsed_s`` is the time spent scoring the grid and choosing (not
loading or validating the bars).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy.base import ParamTable, Strategy, expand_grid, table_row
from tradebot.strategy.engine import GridScores, evaluate_grid, evaluate_params
from tradebot.strategy.fills import FillModel
from tradebot.strategy.metrics import ScoreDict
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy

MIN_TEST_BARS = 20
MAX_FOLDS = 50
OBJECTIVES: dict[str, str] = {
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "total_return": "total_return_pct",
}
"""Objective name -> the :class:`~tradebot.strategy.metrics.ScoreDict` key it maximizes."""

# What the pipeline's optimizer assumes when the caller gives no fill model: fractional shares, all in,
# the default trading config's commission (0.05%). Fractional shares make the score independent of cash.
OPTIMIZER_FILL = FillModel(fractional=True, commission=0.0005)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: its windows (dates, inclusive), its in-sample winner and that winner's
    scores in and out of sample (out of sample None when there is no test window)."""

    train_start: str
    train_end: str
    test_start: str | None
    test_end: str | None
    params: dict[str, float]
    in_sample: ScoreDict
    out_of_sample: ScoreDict | None
    used_default: bool


@dataclass(frozen=True)
class Ranked:
    """A parameter set with its scores: the top in-sample sets (one fold), or the walk-forward
    candidates with their robustness (median objective on their test windows) and window count."""

    params: dict[str, float]
    in_sample: ScoreDict
    out_of_sample: ScoreDict | None
    robustness: float | None = None
    test_windows: int = 0


@dataclass(frozen=True)
class OptimizationOutcome:
    strategy: str
    objective: str
    params: dict[str, float]
    in_sample: ScoreDict
    out_of_sample: ScoreDict | None
    evaluated: int  # parameter sets of the grid scored (per window)
    used_default: bool  # the chosen fold had no set with min_trades trades: the defaults were used
    train_bars: int  # bars of the chosen set's training window
    test_bars: int  # bars of its out-of-sample span
    train_end: str  # date of the last bar of its training window
    bars: int = 0
    mode: Literal["single", "rolling", "anchored"] = "single"
    folds: list[Fold] = field(default_factory=list)
    top: list[Ranked] = field(default_factory=list)
    elapsed_s: float = 0.0
    fill: FillModel = OPTIMIZER_FILL


def train_bars(n: int, train_fraction: float) -> int:
    """Bars in the training window of a single split (all of them when the test window would be too
    short)."""
    n_train = math.floor(n * train_fraction)
    return n if n - n_train < MIN_TEST_BARS else n_train


def max_folds(n: int, wanted: int, train_fraction: float = 0.7) -> int:
    """The most walk-forward folds, up to ``wanted``, whose test windows on ``n`` bars keep at least
    ``MIN_TEST_BARS`` bars (1: a single split)."""
    test_span = n - math.floor(n * train_fraction)
    return max(1, min(wanted, test_span // MIN_TEST_BARS))


def _check_args(objective: str, train_fraction: float, min_trades: int, folds: int, top: int) -> None:
    if objective not in OBJECTIVES:
        raise InputValidationError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    if isinstance(train_fraction, bool) or not (
        isinstance(train_fraction, int | float) and 0.0 < train_fraction <= 1.0
    ):
        raise InputValidationError(f"train_fraction must be in (0, 1], got {train_fraction!r}")
    for name, value, low, high in (
        ("min_trades", min_trades, 0, None),
        ("folds", folds, 1, MAX_FOLDS),
        ("top", top, 0, None),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InputValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        if high is not None and value > high:
            raise InputValidationError(f"{name} must be at most {high}, got {value!r}")


def _windows(n: int, train_fraction: float, folds: int, anchored: bool) -> list[tuple[int, int, int, int]]:
    """``(train_start, train_stop, test_start, test_stop)`` per fold (test_start == test_stop: none)."""
    if folds == 1:
        n_train = train_bars(n, train_fraction)
        return [(0, n_train, n_train, n)]
    length = math.floor(n * train_fraction)
    tests = np.array_split(np.arange(length, n), folds)
    shortest = min(len(t) for t in tests)
    if shortest < MIN_TEST_BARS:
        raise DataQualityError(
            f"{n} bars are too few for {folds} walk-forward folds at train_fraction={train_fraction:g}: "
            f"test windows of {shortest} bars (at least {MIN_TEST_BARS} needed)"
        )
    return [(0 if anchored else int(t[0]) - length, int(t[0]), int(t[0]), int(t[-1]) + 1) for t in tests]


def _too_short(strat: Strategy[Any], n: int, n_train: int, need: np.ndarray, train_fraction: float) -> None:
    smallest = int(need.min())
    upper = math.ceil(smallest / train_fraction) + MIN_TEST_BARS + 1  # floor(upper * tf) >= smallest
    enough = next(m for m in range(smallest, upper) if train_bars(m, train_fraction) >= smallest)
    raise DataQualityError(
        f"{strat.name}: {n} bars are too few to optimize: the training window has {n_train} bars and "
        f"the smallest grid set needs {smallest} "
        f"(at least {enough} bars at train_fraction={train_fraction:g})"
    )


def _best(scores: GridScores, key: str, min_trades: int) -> int | None:
    value = scores.column(key)
    ok = (scores.n_trades >= min_trades) & np.isfinite(value)
    return int(np.argmax(np.where(ok, value, -np.inf))) if ok.any() else None


def optimize(
    bars: pd.DataFrame | Prices,
    strategy: str,
    *,
    objective: str = "sharpe",
    train_fraction: float = 0.7,
    min_trades: int = 2,
    fill: FillModel | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    folds: int = 1,
    anchored: bool = False,
    adjust: str = "none",
    top: int = 10,
) -> OptimizationOutcome:
    """Choose ``strategy``'s parameters on ``bars`` (see the module docstring): one split by default,
    walk-forward with ``folds > 1``.

    Raises InputValidationError for an unknown strategy or objective, a bad grid or argument, and
    DataQualityError for unusable bars or windows too short for the grid.
    """
    strat = get_strategy(strategy)
    _check_args(objective, train_fraction, min_trades, folds, top)
    model = fill or OPTIMIZER_FILL
    table = expand_grid(strat, grid)
    prices = to_prices(bars, adjust)
    n = len(prices)
    windows = _windows(n, train_fraction, folds, anchored)
    fit_in = min(w[1] - w[0] for w in windows)
    need = strat.min_bars_many(table)
    fits = need <= fit_in
    if not fits.any():
        _too_short(strat, n, fit_in, need, train_fraction)
    table = {k: v[fits] for k, v in table.items()}
    key = OBJECTIVES[objective]

    began = time.perf_counter()
    fold_results: list[Fold] = []
    winners: list[int | None] = []
    test_scores: list[GridScores | None] = []
    train_scores: list[GridScores] = []
    for a, b, c, d in windows:
        train = evaluate_grid(prices, strat, table, start=a, stop=b, fill=model)
        test = evaluate_grid(prices, strat, table, start=c, stop=d, fill=model) if c < d else None
        train_scores.append(train)
        test_scores.append(test)
        winners.append(_best(train, key, min_trades))

    def scores_of(i: int | None, k: int, which: str) -> ScoreDict | None:
        a, b, c, d = windows[k]
        if which == "test" and c >= d:
            return None
        if i is not None:
            grid_scores = train_scores[k] if which == "train" else test_scores[k]
            assert grid_scores is not None
            return grid_scores.row(i)
        start, stop = (a, b) if which == "train" else (c, d)
        return evaluate_params(prices, strat, strat.default_params, start=start, stop=stop, fill=model)

    for k, (a, b, c, d) in enumerate(windows):
        i = winners[k]
        in_sample = scores_of(i, k, "train")
        assert in_sample is not None
        fold_results.append(
            Fold(
                train_start=prices.date(a),
                train_end=prices.date(b - 1),
                test_start=prices.date(c) if c < d else None,
                test_end=prices.date(d - 1) if c < d else None,
                params=_params(strat, table, i),
                in_sample=in_sample,
                out_of_sample=scores_of(i, k, "test"),
                used_default=i is None,
            )
        )

    candidates = _rank_candidates(fold_results, windows, winners, test_scores, prices, strat, model, key)
    chosen_fold = candidates[0][0]
    a, b, c, _ = windows[chosen_fold]
    chosen = fold_results[chosen_fold]
    out_of_sample = (
        evaluate_params(prices, strat, chosen.params, start=c, stop=n, fill=model) if c < n else None
    )
    if folds == 1:
        ranked = _top_single(train_scores[0], test_scores[0], table, strat, key, min_trades, top)
    else:
        ranked = [r for _, r in candidates][:top] if top else []
    elapsed = time.perf_counter() - began
    return OptimizationOutcome(
        strategy=strat.name,
        objective=objective,
        params=chosen.params,
        in_sample=chosen.in_sample,
        out_of_sample=out_of_sample,
        evaluated=len(table[next(iter(table))]),
        used_default=chosen.used_default,
        train_bars=b - a,
        test_bars=n - c,
        train_end=chosen.train_end,
        bars=n,
        mode="single" if folds == 1 else ("anchored" if anchored else "rolling"),
        folds=fold_results,
        top=ranked,
        elapsed_s=elapsed,
        fill=model,
    )


def _params(strat: Strategy[Any], table: ParamTable, i: int | None) -> dict[str, float]:
    if i is None:
        return strat.default_params.as_dict()
    return strat.parse_params(table_row(table, i)).as_dict()


def _rank_candidates(
    folds: list[Fold],
    windows: list[tuple[int, int, int, int]],
    winners: list[int | None],
    test_scores: list[GridScores | None],
    prices: Prices,
    strat: Strategy[Any],
    fill: FillModel,
    key: str,
) -> list[tuple[int, Ranked]]:
    """The folds' winners (distinct, earliest fold first) ranked by robustness, most robust first."""
    seen: dict[tuple[tuple[str, float], ...], int] = {}
    for k, fold in enumerate(folds):
        seen.setdefault(tuple(sorted(fold.params.items())), k)
    rows: list[tuple[float, int, int, Ranked]] = []
    for k in seen.values():
        values: list[float] = []
        for j in range(k, len(windows)):
            _, _, c, d = windows[j]
            if c >= d:
                continue
            i, tests = winners[k], test_scores[j]
            if i is not None and tests is not None:
                values.append(float(tests.column(key)[i]))
            else:
                one = evaluate_params(prices, strat, folds[k].params, start=c, stop=d, fill=fill)
                values.append(float(one[key]))  # type: ignore[literal-required]
        robust = float(np.median(values)) if values else None
        oos = folds[k].out_of_sample
        rows.append(
            (
                -math.inf if robust is None or not math.isfinite(robust) else robust,
                len(values),
                -k,
                Ranked(folds[k].params, folds[k].in_sample, oos, robust, len(values)),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1], r[2]), reverse=True)
    return [(-r[2], r[3]) for r in rows]


def _top_single(
    train: GridScores,
    test: GridScores | None,
    table: ParamTable,
    strat: Strategy[Any],
    key: str,
    min_trades: int,
    top: int,
) -> list[Ranked]:
    """The ``top`` qualifying sets by in-sample objective, with their out-of-sample scores."""
    value = train.column(key)
    ok = np.flatnonzero((train.n_trades >= min_trades) & np.isfinite(value))
    order = ok[np.argsort(-value[ok], kind="stable")][:top]
    return [
        Ranked(
            _params(strat, table, int(i)),
            train.row(int(i)),
            test.row(int(i)) if test is not None else None,
        )
        for i in order
    ]
