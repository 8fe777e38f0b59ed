"""Performance measures shared by the backtest, the grid optimizer and the reports.

* Daily returns are close-to-close changes of equity (equity is marked at every bar's close).
* ``sharpe``: annualised ``sqrt(252) * mean(r) / std(r)`` of the daily returns, with the sample standard
  deviation (ddof=1), no risk-free rate; 0 when there are fewer than two returns or the deviation is 0 (or
  rounding noise: below 1e-14 of the mean).
* ``total_return_pct``: ``(last equity / first equity - 1) * 100``.
* ``max_drawdown_pct``: the worst fall from a running peak of equity, in percent, as a number <= 0
  (backtesting.py's sign): ``(min over t of equity[t] / max(equity[:t+1]) - 1) * 100``.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TRADING_DAYS = 252


class ScoreDict(TypedDict):
    """The keys of :class:`tradebot.models.Scores`."""

    sharpe: float
    total_return_pct: float
    max_drawdown_pct: float
    n_trades: int


def sharpe_from_sums(total: FloatArray, total_sq: FloatArray, n: int) -> FloatArray:
    """Sharpe ratios from ``sum(r)`` and ``sum(r**2)`` of ``n`` daily returns each (vectorized)."""
    total = np.asarray(total, dtype=np.float64)
    if n < 2:
        return np.zeros_like(total)
    mean = total / n
    var = np.maximum((np.asarray(total_sq, dtype=np.float64) - total * mean) / (n - 1), 0.0)
    std = np.sqrt(var)
    # a deviation this small relative to the returns is rounding noise of a constant series
    tiny = std <= 1e-14 * np.maximum(np.abs(mean), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(tiny | (std == 0), 0.0, math.sqrt(TRADING_DAYS) * mean / np.where(std == 0, 1.0, std))
    return np.asarray(out, dtype=np.float64)


def sharpe(returns: FloatArray) -> float:
    """Annualised Sharpe ratio of daily returns (see the module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return 0.0
    mean = float(np.mean(r))
    std = float(np.std(r, ddof=1))
    if std == 0.0 or not math.isfinite(std) or std <= 1e-14 * abs(mean):
        return 0.0
    return math.sqrt(TRADING_DAYS) * mean / std


def max_drawdown_pct(equity: FloatArray) -> float:
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) == 0:
        return 0.0
    return float((np.min(eq / np.maximum.accumulate(eq)) - 1.0) * 100.0)


def equity_scores(equity: FloatArray, n_trades: int) -> ScoreDict:
    """``sharpe``, ``total_return_pct``, ``max_drawdown_pct`` and ``n_trades`` of an equity curve (the
    keys of :class:`tradebot.models.Scores`)."""
    eq = np.asarray(equity, dtype=np.float64)
    returns = eq[1:] / eq[:-1] - 1.0
    return {
        "sharpe": sharpe(returns),
        "total_return_pct": float((eq[-1] / eq[0] - 1.0) * 100.0) if len(eq) else 0.0,
        "max_drawdown_pct": max_drawdown_pct(eq),
        "n_trades": int(n_trades),
    }
