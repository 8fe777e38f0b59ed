"""Shared helpers of the strategy tests (synthetic bars and an independent reference model); no tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd


def make_bars(
    n: int,
    seed: int,
    *,
    start_price: float = 100.0,
    drift: float = 0.0002,
    vol: float = 0.015,
    flat: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """A geometric random walk with consistent OHLC (Low <= Open, Close <= High), seeded.

    ``flat=(a, b)``: bars a..b-1 all trade at one price (so moving averages tie exactly there).
    """
    rng = np.random.default_rng(seed)
    gap = rng.normal(0.0, vol / 4, n)
    session = rng.normal(drift, vol, n)
    open_ = np.empty(n)
    close = np.empty(n)
    prev = start_price
    for t in range(n):
        open_[t] = prev * math.exp(gap[t])
        close[t] = open_[t] * math.exp(session[t])
        prev = close[t]
    if flat is not None:
        a, b = flat
        level = close[a - 1] if a > 0 else start_price
        open_[a:b] = level
        close[a:b] = level
    wick_hi = np.exp(np.abs(rng.normal(0.0, vol / 3, n)))
    wick_lo = np.exp(-np.abs(rng.normal(0.0, vol / 3, n)))
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) * wick_hi,
            "Low": np.minimum(open_, close) * wick_lo,
            "Close": close,
            "Adj Close": close,
            "Volume": rng.integers(100_000, 1_000_000, n).astype(np.float64),
        },
        index=pd.bdate_range("2016-01-04", periods=n, name="Date"),
    )


def bars_from(closes: Sequence[float], opens: Sequence[float] | None = None) -> pd.DataFrame:
    """Bars with the given closes (and opens; default: the previous close, the first bar its own close)."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.r_[close[0], close[:-1]] if opens is None else np.asarray(opens, dtype=np.float64)
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close),
            "Low": np.minimum(open_, close),
            "Close": close,
            "Adj Close": close,
            "Volume": np.full(len(close), 1_000.0),
        },
        index=pd.bdate_range("2024-01-01", periods=len(close), name="Date"),
    )


def reference_fractional(
    open_: Sequence[float] | npt.NDArray[np.float64],
    close: Sequence[float] | npt.NDArray[np.float64],
    enter: Sequence[bool] | npt.NDArray[np.bool_],
    exit_: Sequence[bool] | npt.NDArray[np.bool_],
    start: int,
    stop: int,
    commission: float,
) -> dict[str, float]:
    """Fractional shares, all in, long only, commission per fill: the equity path bar by bar in plain
    Python (independent of the library), and its scores (sharpe, total return, max drawdown, trades)."""
    state = False  # after the latest decision
    held_before = False
    equity = [1.0]
    trades = 0
    for t in range(start, stop):
        if t > start:
            held = state
            g = 1.0
            if held_before:
                g *= open_[t] / close[t - 1]
            if held:
                g *= close[t] / open_[t]
            if held and not held_before:  # all in: shares = equity / (open * (1 + commission))
                g /= 1.0 + commission
            elif held_before and not held:
                g *= 1.0 - commission
            trades += held and not held_before
            equity.append(equity[-1] * g)
            held_before = held
        if t <= stop - 2:  # a decision that can still fill inside the window
            if enter[t]:
                state = True
            elif exit_[t]:
                state = False
    returns = [b / a - 1.0 for a, b in itertools.pairwise(equity)]
    sharpe = 0.0
    if len(returns) >= 2:
        mean = sum(returns) / len(returns)
        std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        if std > 1e-14 * abs(mean) and std > 0:
            sharpe = math.sqrt(252) * mean / std
    peak, worst = equity[0], 0.0
    for v in equity:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1.0)
    return {
        "sharpe": sharpe,
        "total_return_pct": (equity[-1] - 1.0) * 100.0,
        "max_drawdown_pct": worst * 100.0,
        "n_trades": trades,
    }
