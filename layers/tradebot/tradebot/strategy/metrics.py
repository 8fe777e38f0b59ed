"""Performance measures shared by the backtest, the grid optimizer and the reports (formulas below).

Equity is marked at every bar's close; ``r[t] = equity[t] / equity[t-1] - 1`` are the daily returns
(0 after a bust, when equity stays 0). ``n`` is the number of returns, ``years`` the calendar days from
the first to the last bar / 365.25.

Scores (every engine computes these, for one set or a whole grid; the keys of :class:`ScoreDict`):

* ``total_return_pct = (equity[-1] / equity[0] - 1) * 100``
* ``cagr_pct = ((equity[-1] / equity[0]) ** (1 / years) - 1) * 100`` (0 when years is 0)
* ``sharpe = sqrt(252) * mean(r) / std(r)``: arithmetic mean, sample deviation (ddof=1), no risk-free
  rate; 0 when n < 2 or the deviation is 0 (or rounding noise: below 1e-14 of the mean).
* ``sortino = sqrt(252) * mean(r) / sqrt(sum(min(r, 0)**2) / n)``: target 0; 0 when n < 2 or there is
  no losing day.
* ``max_drawdown_pct = (min_t equity[t] / max(equity[:t+1]) - 1) * 100``, <= 0 (backtesting.py's sign)
* ``calmar = cagr_pct / -max_drawdown_pct`` (0 when there is no drawdown)
* ``exposure_pct``: percent of the bars whose close finds a position open
* ``n_trades``: positions opened (an open one included)

Backtest-only statistics (:func:`performance`): ``volatility_ann_pct = std(r) * sqrt(252) * 100``; the
longest drawdown (``max_drawdown_duration_bars`` / ``_days``: from a peak to the first close back at or
above it, or to the last bar); per closed trade ``win_rate_pct`` (pnl > 0), ``profit_factor`` (gross
profit / gross loss, None without a loss), ``avg_trade_pct`` / ``best_trade_pct`` / ``worst_trade_pct``
(arithmetic, of each trade's return on its entry cost); ``buy_and_hold_return_pct`` (first to last close).

backtesting.py's Sharpe (``sharpe_btpy``, to compare numbers with it): with g the geometric mean daily
return, ``annual_return = (1 + g)**252 - 1``, ``annual_vol = sqrt((var(r) + (1 + g)**2)**252 -
(1 + g)**(2 * 252))`` (ddof=1) and ``sharpe_btpy = annual_return / annual_vol``. It equals
backtesting.py 0.6's "Sharpe Ratio" on daily bars without weekends (its ``Return (Ann.) [%]`` and
``Volatility (Ann.) [%]`` are ``return_ann_btpy_pct`` / ``volatility_ann_btpy_pct``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
TRADING_DAYS = 252
DAYS_PER_YEAR = 365.25


class ScoreDict(TypedDict):
    """Scores of one parameter set on one window (the keys of :class:`tradebot.contracts.Scores`)."""

    sharpe: float
    sortino: float
    total_return_pct: float
    cagr_pct: float
    max_drawdown_pct: float
    calmar: float
    exposure_pct: float
    n_trades: int


SCORE_KEYS: tuple[str, ...] = tuple(ScoreDict.__annotations__)


def returns_of(equity: FloatArray) -> FloatArray:
    """Daily returns of an equity path (0 where equity was already 0: a bust account stays at 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = eq[1:] / eq[:-1] - 1.0
    return np.where(eq[:-1] > 0, r, 0.0)


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


def sortino_from_sums(total: FloatArray, down_sq: FloatArray, n: int) -> FloatArray:
    """Sortino ratios from ``sum(r)`` and ``sum(min(r, 0)**2)`` of ``n`` daily returns each."""
    total = np.asarray(total, dtype=np.float64)
    if n < 2:
        return np.zeros_like(total)
    dd = np.sqrt(np.maximum(np.asarray(down_sq, dtype=np.float64), 0.0) / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(dd > 0, math.sqrt(TRADING_DAYS) * (total / n) / np.where(dd > 0, dd, 1.0), 0.0)
    return np.asarray(out, dtype=np.float64)


def cagr_pct_from_growth(growth: FloatArray, days: float) -> FloatArray:
    """CAGR in percent of total growth factors ``equity[-1] / equity[0]`` over ``days`` calendar days."""
    g = np.asarray(growth, dtype=np.float64)
    if days <= 0:
        return np.zeros_like(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(g > 0, np.power(np.maximum(g, 1e-300), DAYS_PER_YEAR / days) - 1.0, -1.0) * 100.0
    return np.asarray(out, dtype=np.float64)


def calmar_from(cagr_pct: FloatArray, max_drawdown_pct: FloatArray) -> FloatArray:
    dd = -np.asarray(max_drawdown_pct, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(dd > 0, np.asarray(cagr_pct) / np.where(dd > 0, dd, 1.0), 0.0))


def sharpe(returns: FloatArray) -> float:
    """Annualised Sharpe ratio of daily returns (see the module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    return float(sharpe_from_sums(np.array([r.sum()]), np.array([(r * r).sum()]), len(r))[0])


def max_drawdown_pct(equity: FloatArray) -> float:
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) == 0:
        return 0.0
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(peak > 0, eq / peak, 1.0)
    return float((np.min(ratio) - 1.0) * 100.0)


def drawdown_duration(equity: FloatArray) -> tuple[int, int, int]:
    """``(bars, peak_bar, end_bar)`` of the longest drawdown: from a peak to the first bar back at or
    above it (or the last bar). ``(0, 0, 0)`` when equity never falls below a peak. As backtesting.py's
    ``_compute_drawdown_duration_peaks``: only a stretch of more than one bar between two bars at the
    running peak (or from the last one to the end) is a drawdown."""
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) < 2:
        return 0, 0, 0
    peak = np.maximum.accumulate(eq)
    at_peak = np.flatnonzero(eq >= peak)  # bars where equity is at its running peak
    ends = np.r_[at_peak[1:], len(eq) - 1]
    gaps = np.where(ends - at_peak > 1, ends - at_peak, 0)  # a step from peak to peak is no drawdown
    i = int(np.argmax(gaps))
    if gaps[i] == 0:
        return 0, 0, 0
    return int(gaps[i]), int(at_peak[i]), int(ends[i])


def equity_scores(
    equity: FloatArray, n_trades: int, *, days: float, exposure_bars: int | None = None
) -> ScoreDict:
    """:class:`ScoreDict` of an equity path (first value: the window's start) over ``days`` calendar
    days; ``exposure_bars`` is the number of closes with a position open (None: 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    r = returns_of(eq)
    n = len(r)
    growth = float(eq[-1] / eq[0]) if len(eq) else 1.0
    total, total_sq, down_sq = (
        np.array([r.sum()]),
        np.array([(r * r).sum()]),
        np.array([(r[r < 0] ** 2).sum()]),
    )
    cagr = float(cagr_pct_from_growth(np.array([growth]), days)[0])
    mdd = max_drawdown_pct(eq)
    return {
        "sharpe": float(sharpe_from_sums(total, total_sq, n)[0]),
        "sortino": float(sortino_from_sums(total, down_sq, n)[0]),
        "total_return_pct": (growth - 1.0) * 100.0,
        "cagr_pct": cagr,
        "max_drawdown_pct": mdd,
        "calmar": float(calmar_from(np.array([cagr]), np.array([mdd]))[0]),
        "exposure_pct": 100.0 * (exposure_bars or 0) / len(eq) if len(eq) else 0.0,
        "n_trades": int(n_trades),
    }


def btpy_ratios(returns: FloatArray) -> tuple[float, float, float | None]:
    """backtesting.py's ``(Return (Ann.) [%], Volatility (Ann.) [%], Sharpe Ratio)`` of daily returns
    (Sharpe None where its volatility is 0: backtesting.py shows NaN)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) == 0:
        return 0.0, 0.0, None
    gross = r + 1.0
    g = 0.0 if np.any(gross <= 0) else float(np.exp(np.log(gross).sum() / len(r)) - 1.0)
    annual_return = (1.0 + g) ** TRADING_DAYS - 1.0
    var = float(np.var(r, ddof=1)) if len(r) > 1 else 0.0
    vol = math.sqrt(max((var + (1.0 + g) ** 2) ** TRADING_DAYS - (1.0 + g) ** (2 * TRADING_DAYS), 0.0))
    return annual_return * 100.0, vol * 100.0, (annual_return / vol if vol > 0 else None)


def performance(
    equity: pd.Series,
    close: FloatArray,
    trade_pnls: Sequence[float],
    trade_returns_pct: Sequence[float],
    n_trades: int,
    exposure_bars: int,
) -> dict[str, Any]:
    """The documented statistics of a backtest (see the module docstring) from its equity curve, the
    bars' closes, and the pnl / return of each closed trade."""
    eq = equity.to_numpy(dtype=np.float64)
    index = pd.DatetimeIndex(equity.index)
    days = float((index[-1] - index[0]).days) if len(index) else 0.0
    scores = equity_scores(eq, n_trades, days=days, exposure_bars=exposure_bars)
    r = returns_of(eq)
    ann_btpy, vol_btpy, sharpe_btpy = btpy_ratios(r)
    dd_bars, dd_peak, dd_end = drawdown_duration(eq)
    pnls = np.asarray(trade_pnls, dtype=np.float64)
    rets = np.asarray(trade_returns_pct, dtype=np.float64)
    gross_profit, gross_loss = float(pnls[pnls > 0].sum()), float(-pnls[pnls < 0].sum())
    return {
        **scores,
        "volatility_ann_pct": float(np.std(r, ddof=1) * math.sqrt(TRADING_DAYS) * 100.0)
        if len(r) > 1
        else 0.0,
        "sharpe_btpy": sharpe_btpy,
        "return_ann_btpy_pct": ann_btpy,
        "volatility_ann_btpy_pct": vol_btpy,
        "max_drawdown_duration_bars": dd_bars,
        "max_drawdown_duration_days": int((index[dd_end] - index[dd_peak]).days) if dd_bars else 0,
        "n_closed_trades": len(pnls),
        "win_rate_pct": float(100.0 * np.mean(pnls > 0)) if len(pnls) else None,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else None,
        "avg_trade_pct": float(rets.mean()) if len(rets) else None,
        "best_trade_pct": float(rets.max()) if len(rets) else None,
        "worst_trade_pct": float(rets.min()) if len(rets) else None,
        "buy_and_hold_return_pct": float((close[-1] / close[0] - 1.0) * 100.0),
        "equity_peak": float(eq.max()),
    }
