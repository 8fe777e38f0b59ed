"""Walk-forward-style parameter search: grid on the training bars, score out of sample on the rest.

* Split: the first ``floor(n * train_fraction)`` bars train, the rest test. When the test part would
  have fewer than ``MIN_TEST_BARS`` bars (or ``train_fraction == 1``), all bars train and
  ``out_of_sample`` is None.
* Search: every valid set of the grid (default: the strategy's ``default_grid``) whose ``min_bars`` fits
  in the training window is scored at once by :func:`~tradebot.strategy.engine.evaluate_grid` (the
  fractional-equity model, ``commission`` per entry and per exit). Among the sets with at least
  ``min_trades`` trades (entries) the best by ``objective`` wins; ties go to the first in grid order. If
  none qualifies, the strategy's default parameters are used (``used_default``).
* Out of sample: the chosen set on the test bars, flat at the start of the test window; indicators are
  computed on the whole series (so they are warm), but only signals, trades and returns inside the test
  window count.
* Objectives: ``sharpe`` (see :mod:`tradebot.strategy.metrics`), ``total_return`` (total_return_pct),
  ``return_over_drawdown`` (total_return_pct / max(-max_drawdown_pct, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy.base import FloatArray, expand_grid, table_row
from tradebot.strategy.engine import GridScores, check_commission, evaluate_grid, evaluate_params
from tradebot.strategy.metrics import ScoreDict
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy

MIN_TEST_BARS = 20

OBJECTIVES: dict[str, Callable[[GridScores], FloatArray]] = {
    "sharpe": lambda s: s.sharpe,
    "total_return": lambda s: s.total_return_pct,
    "return_over_drawdown": lambda s: s.total_return_pct / np.maximum(-s.max_drawdown_pct, 1.0),
}


@dataclass(frozen=True)
class OptimizationOutcome:
    strategy: str
    objective: str
    params: dict[str, float]
    in_sample: ScoreDict  # the keys of tradebot.models.Scores
    out_of_sample: ScoreDict | None
    evaluated: int  # parameter sets scored on the training bars
    used_default: bool  # no set had min_trades trades: the default parameters were used
    train_bars: int
    test_bars: int
    train_end: str  # date of the last training bar


def train_bars(n: int, train_fraction: float) -> int:
    """Bars in the training window (all of them when the test window would be too short)."""
    n_train = math.floor(n * train_fraction)
    return n if n - n_train < MIN_TEST_BARS else n_train


def optimize(
    bars: pd.DataFrame | Prices,
    strategy: str,
    *,
    objective: str = "sharpe",
    train_fraction: float = 0.7,
    min_trades: int = 2,
    commission: float = 0.0005,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> OptimizationOutcome:
    """Best parameters of ``strategy`` on the first ``train_fraction`` of ``bars``, scored on the rest.

    Raises InputValidationError for an unknown strategy or objective, a bad grid or argument, and
    DataQualityError for unusable bars or a training window too short for every set of the grid.
    """
    strat = get_strategy(strategy)
    if objective not in OBJECTIVES:
        raise InputValidationError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    if isinstance(train_fraction, bool) or not (
        isinstance(train_fraction, int | float) and 0.0 < train_fraction <= 1.0
    ):
        raise InputValidationError(f"train_fraction must be in (0, 1], got {train_fraction!r}")
    if isinstance(min_trades, bool) or not isinstance(min_trades, int | np.integer) or min_trades < 0:
        raise InputValidationError(f"min_trades must be an integer >= 0, got {min_trades!r}")
    c = check_commission(commission)
    table = expand_grid(strat, grid)
    prices = to_prices(bars)

    n = len(prices)
    n_train = train_bars(n, train_fraction)
    need = strat.min_bars_many(table)
    fits = need <= n_train
    if not fits.any():
        smallest = int(need.min())
        upper = math.ceil(smallest / train_fraction) + MIN_TEST_BARS + 1  # floor(upper * tf) >= smallest
        enough = next(m for m in range(smallest, upper) if train_bars(m, train_fraction) >= smallest)
        raise DataQualityError(
            f"{strat.name}: {n} bars are too few to optimize: the training window has {n_train} bars and "
            f"the smallest grid set needs {smallest} "
            f"(at least {enough} bars at train_fraction={train_fraction:g})"
        )
    table = {k: v[fits] for k, v in table.items()}

    scores = evaluate_grid(prices, strat, table, start=0, stop=n_train, commission=c)
    value = OBJECTIVES[objective](scores)
    ok = (scores.n_trades >= min_trades) & np.isfinite(value)
    if ok.any():
        best = int(np.argmax(np.where(ok, value, -np.inf)))
        chosen = strat.parse_params(table_row(table, best))
        in_sample = scores.row(best)
    else:
        chosen = strat.default_params
        in_sample = evaluate_params(prices, strat, chosen, start=0, stop=n_train, commission=c)
    out_of_sample = (
        evaluate_params(prices, strat, chosen, start=n_train, stop=n, commission=c) if n_train < n else None
    )
    return OptimizationOutcome(
        strategy=strat.name,
        objective=objective,
        params=chosen.as_dict(),
        in_sample=in_sample,
        out_of_sample=out_of_sample,
        evaluated=len(scores),
        used_default=not ok.any(),
        train_bars=n_train,
        test_bars=n - n_train,
        train_end=prices.date(n_train - 1),
    )
