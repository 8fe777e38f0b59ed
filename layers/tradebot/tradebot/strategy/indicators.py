"""Indicators shared by strategies (numpy + pandas), each defined once here and cached per window on
:class:`~tradebot.strategy.prices.Prices` (call them as ``prices.indicator(name, window, fn)``).

Every indicator at bar t uses data up to bar t only, and is NaN while it warms up:

* ``sma(n)``: mean of the last n closes (pandas ``rolling(n).mean()``), defined from bar n-1.
* ``ema(n)``: pandas ``ewm(span=n, adjust=False, min_periods=n).mean()`` of Close: alpha = 2/(n+1),
  seeded with the first close, defined from bar n-1.
* ``rsi(n)``: Wilder's RSI, ``100 - 100 / (1 + avg_gain / avg_loss)`` where the averages are
  ``ewm(alpha=1/n, adjust=False)`` of the close-to-close gains and losses (seeded with the first change),
  defined from bar n; 100 when there was no loss, 50 when there was no change at all.
* ``bollinger_z(n)``: ``(Close - sma(n)) / std(n)`` with the population deviation (ddof=0) of the last
  n closes; 0 where the deviation is 0 (a flat window), defined from bar n-1.
* ``donchian_high(n)`` / ``donchian_low(n)``: the highest High / lowest Low of the n bars BEFORE bar t
  (bar t excluded, so a close can break out of it), defined from bar n.
* ``momentum(n)``: ``Close[t] / Close[t-n] - 1``, defined from bar n.

Crossover (same definition as backtesting.py's ``crossover``): ``a`` crosses above ``b`` at bar t when
``a[t-1] < b[t-1]`` and ``a[t] > b[t]``; it crosses below when ``a[t-1] > b[t-1]`` and ``a[t] < b[t]``.
Equal values are not crosses, and a cross needs both bars strictly on either side, so a path that passes
through an exact tie (below, equal, above) does not cross at all. NaN (an indicator still warming up)
compares false, so there is no cross until both values are defined on two consecutive bars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from tradebot.strategy.prices import Prices

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def crossover(a: FloatArray, b: FloatArray) -> tuple[BoolArray, BoolArray]:
    """``(up, down)`` crosses of ``a`` over ``b`` along the last axis, for bars 1..n-1 of the inputs.

    ``a`` and ``b`` broadcast against each other (e.g. one fast average ``(n,)`` against many slow ones
    ``(k, n)``). The outputs have ``n - 1`` columns: column j is bar j + 1 (bar 0 cannot cross).
    """
    with np.errstate(invalid="ignore"):
        above = np.greater(a, b)
        below = np.less(a, b)
    up = below[..., :-1] & above[..., 1:]
    down = above[..., :-1] & below[..., 1:]
    return up, down


def crossover_full(a: FloatArray, b: FloatArray) -> tuple[BoolArray, BoolArray]:
    """:func:`crossover` padded with False at bar 0, so column t is bar t."""
    up, down = crossover(a, b)
    pad = np.zeros((*up.shape[:-1], 1), dtype=bool)
    return np.concatenate([pad, up], axis=-1), np.concatenate([pad, down], axis=-1)


# --- indicators of a price series (cached through Prices.indicator) ------------------------------------


def _close(prices: Prices) -> pd.Series:
    return pd.Series(prices.close, copy=False)


def _out(series: pd.Series) -> FloatArray:
    return np.asarray(series.to_numpy(np.float64, na_value=np.nan), dtype=np.float64)


def sma(prices: Prices, n: int) -> FloatArray:
    return _out(_close(prices).rolling(n, min_periods=n).mean())


def ema(prices: Prices, n: int) -> FloatArray:
    return _out(_close(prices).ewm(span=n, adjust=False, min_periods=n).mean())


def rsi(prices: Prices, n: int) -> FloatArray:
    change = _close(prices).diff()
    gain = change.clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean().to_numpy()
    loss = (-change).clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = np.where(loss == 0.0, np.where(gain == 0.0, 50.0, 100.0), value)
    return np.where(np.isnan(gain) | np.isnan(loss), np.nan, value)


def bollinger_z(prices: Prices, n: int) -> FloatArray:
    close = _close(prices)
    mean = prices.sma(n)
    std = close.rolling(n, min_periods=n).std(ddof=0).to_numpy()
    # rolling std of a flat window is rounding noise around 0, not exactly 0
    flat = std <= 1e-12 * np.abs(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (prices.close - mean) / std
    return np.where(flat, 0.0, z)


def donchian_high(prices: Prices, n: int) -> FloatArray:
    return _out(pd.Series(prices.high, copy=False).rolling(n, min_periods=n).max().shift(1))


def donchian_low(prices: Prices, n: int) -> FloatArray:
    return _out(pd.Series(prices.low, copy=False).rolling(n, min_periods=n).min().shift(1))


def momentum(prices: Prices, n: int) -> FloatArray:
    close = prices.close
    out = np.full(len(close), np.nan)
    out[n:] = close[n:] / close[:-n] - 1.0
    return out
