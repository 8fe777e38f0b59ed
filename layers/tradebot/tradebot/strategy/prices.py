"""Bars -> validated price arrays, with a per-window indicator cache.

Every entry point of :mod:`tradebot.strategy` turns the caller's bars (the project's bars convention: a
``DatetimeIndex`` named "Date", sorted and unique, float64 "Open", "High", "Low", "Close", "Adj Close",
"Volume") into a :class:`Prices` once. Strategies and the engines read only these arrays. Trading uses the
raw "Open" (fills) and "Close" (signals, marking); "Adj Close" is not used, as in backtesting.py.

Indicators are cached per window on the :class:`Prices` object, so a grid of thousands of parameter sets
computes each distinct window once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradebot.errors import DataQualityError, InputValidationError

FloatArray = npt.NDArray[np.float64]
REQUIRED_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")


@dataclass(eq=False)
class Prices:
    """Validated price arrays of one symbol (all the same length, positive and finite)."""

    index: pd.DatetimeIndex
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    _cache: dict[tuple[str, int], FloatArray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.close)

    def sma(self, window: int) -> FloatArray:
        """Simple moving average of Close over ``window`` bars, NaN for the first ``window - 1`` bars.

        Computed with pandas' ``rolling(window).mean()`` (what backtesting.py's examples use), so values,
        and therefore crossovers and exact ties on flat stretches, are identical to theirs.
        """
        key = ("sma", int(window))
        cached = self._cache.get(key)
        if cached is None:
            series = pd.Series(self.close, copy=False)
            cached = series.rolling(int(window), min_periods=int(window)).mean().to_numpy(np.float64)
            cached.setflags(write=False)
            self._cache[key] = cached
        return cached

    def date(self, t: int) -> str:
        return pd.Timestamp(self.index[t]).date().isoformat()


def to_prices(bars: object) -> Prices:
    """Validate ``bars`` and return its arrays; a :class:`Prices` is passed through unchanged.

    Raises InputValidationError when ``bars`` is not a DataFrame and DataQualityError when it is unusable
    (no rows, missing columns, an index that is not a sorted unique DatetimeIndex, NaN or non-positive
    prices).
    """
    if isinstance(bars, Prices):
        return bars
    if not isinstance(bars, pd.DataFrame):
        raise InputValidationError(f"bars must be a pandas DataFrame, got {type(bars).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        raise DataQualityError(f"bars are missing columns: {', '.join(missing)}")
    if len(bars) == 0:
        raise DataQualityError("bars are empty")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise DataQualityError(f"bars need a DatetimeIndex, got {type(bars.index).__name__}")
    if not bars.index.is_unique or not bars.index.is_monotonic_increasing:
        raise DataQualityError("bars' index must be sorted and unique (one row per session)")
    arrays: dict[str, FloatArray] = {}
    for col in REQUIRED_COLUMNS:
        values = pd.to_numeric(bars[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataQualityError(
                f"bars' {col} has {int(bad.sum())} NaN or non-positive value(s), first on "
                f"{pd.Timestamp(bars.index[first]).date().isoformat()}"
            )
        values = np.array(values, dtype=np.float64)  # own, contiguous copy
        values.setflags(write=False)
        arrays[col] = values
    return Prices(
        index=pd.DatetimeIndex(bars.index),
        open=arrays["Open"],
        high=arrays["High"],
        low=arrays["Low"],
        close=arrays["Close"],
    )
