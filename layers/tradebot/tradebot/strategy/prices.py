"""Bars -> validated price arrays, with a per-window indicator cache.

Every entry point of :mod:`tradebot.strategy` turns the caller's bars (the project's bars convention: a
``DatetimeIndex`` named "Date", sorted and unique, float64 "Open", "High", "Low", "Close", "Adj Close",
"Volume") into a :class:`Prices` once. Strategies and the engines read only these arrays.

Price adjustment (``adjust``):

* ``"none"`` (default): OHLC as given; "Adj Close" is not used (as in backtesting.py). Yahoo's Close is
  split-adjusted but not dividend-adjusted, so a dividend shows up as a small overnight drop.
* ``"total_return"``: Open, High, Low and Close are all multiplied by ``Adj Close / Close`` of their bar,
  so the series is a total-return series (dividends reinvested) with the bar's shape preserved. Needs a
  real "Adj Close": bars without one (no such column, or an all-NaN column, which is how
  :mod:`tradebot.data.bars` represents a file without Adj Close) raise :class:`AdjCloseMissingError` (an
  InputValidationError naming the column), never a silent fallback to Close; a NaN or non-positive value
  in an Adj Close that exists is a DataQualityError like any other price. Backtests on it report prices
  in adjusted units.
  Yahoo's Adj Close is back-adjusted (a later dividend lowers every earlier price by the same factor), so
  absolute levels are not the prices traded then; every strategy here compares prices with prices of
  the same series (ratios), which a common factor does not change, so the signals stay point-in-time.
  Whole-share sizing on adjusted prices is approximate: prefer fractional shares with it.

Indicators are cached per window on the :class:`Prices` object, so a grid of thousands of parameter sets
computes each distinct window once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import indicators

FloatArray = npt.NDArray[np.float64]


class AdjCloseMissingError(InputValidationError, DataQualityError):
    """A total-return adjustment was asked of bars that have no Adj Close (the input cannot support it)."""


REQUIRED_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")
ADJUSTMENTS: tuple[str, ...] = ("none", "total_return")


@dataclass(eq=False)
class Prices:
    """Validated price arrays of one symbol (all the same length, positive and finite)."""

    index: pd.DatetimeIndex
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    adjust: str = "none"
    _cache: dict[tuple[str, int], FloatArray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.close)

    def sma(self, window: int) -> FloatArray:
        """Simple moving average of Close over ``window`` bars, NaN for the first ``window - 1`` bars.

        Computed with pandas' ``rolling(window).mean()`` (what backtesting.py's examples use), so values,
        and therefore crossovers and exact ties on flat stretches, are identical to theirs.
        """
        return self.indicator("sma", window, indicators.sma)

    def indicator(self, name: str, window: int, compute: Callable[[Prices, int], FloatArray]) -> FloatArray:
        """``compute(self, window)``, computed once per (name, window) and cached read-only."""
        key = (name, int(window))
        cached = self._cache.get(key)
        if cached is None:
            cached = np.ascontiguousarray(compute(self, int(window)), dtype=np.float64)
            cached.setflags(write=False)
            self._cache[key] = cached
        return cached

    def date(self, t: int) -> str:
        return pd.Timestamp(self.index[t]).date().isoformat()


def to_prices(bars: object, adjust: str = "none") -> Prices:
    """Validate ``bars`` and return its arrays, adjusted as asked (see the module docstring); a
    :class:`Prices` with the same adjustment is passed through unchanged.

    Raises InputValidationError when ``bars`` is not a DataFrame, ``adjust`` is unknown or a Prices has
    another adjustment, and DataQualityError when the bars are unusable (no rows, missing columns, an
    index that is not a sorted unique DatetimeIndex, NaN or non-positive prices).
    """
    if adjust not in ADJUSTMENTS:
        raise InputValidationError(f"unknown price adjustment {adjust!r}; valid: {', '.join(ADJUSTMENTS)}")
    if isinstance(bars, Prices):
        if bars.adjust != adjust:
            raise InputValidationError(f"prices are adjusted {bars.adjust!r}, asked for {adjust!r}")
        return bars
    if not isinstance(bars, pd.DataFrame):
        raise InputValidationError(f"bars must be a pandas DataFrame, got {type(bars).__name__}")
    _check_frame(bars, adjust)
    arrays: dict[str, FloatArray] = {}
    columns = (*REQUIRED_COLUMNS, "Adj Close") if adjust == "total_return" else REQUIRED_COLUMNS
    for col in columns:
        values = pd.to_numeric(bars[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataQualityError(
                f"bars' {col} has {int(bad.sum())} NaN or non-positive value(s), first on "
                f"{pd.Timestamp(bars.index[first]).date().isoformat()}"
            )
        arrays[col] = np.array(values, dtype=np.float64)  # own, contiguous copy
    if adjust == "total_return":
        factor = arrays.pop("Adj Close") / arrays["Close"]
        for col in REQUIRED_COLUMNS:
            arrays[col] = arrays[col] * factor
    for values in arrays.values():
        values.setflags(write=False)
    return Prices(
        index=pd.DatetimeIndex(bars.index),
        open=arrays["Open"],
        high=arrays["High"],
        low=arrays["Low"],
        close=arrays["Close"],
        adjust=adjust,
    )


def _check_frame(bars: pd.DataFrame, adjust: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        raise DataQualityError(f"bars are missing columns: {', '.join(missing)}")
    if len(bars) == 0:
        raise DataQualityError("bars are empty")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise DataQualityError(f"bars need a DatetimeIndex, got {type(bars.index).__name__}")
    if not bars.index.is_unique or not bars.index.is_monotonic_increasing:
        raise DataQualityError("bars' index must be sorted and unique (one row per session)")
    if adjust == "total_return" and (
        "Adj Close" not in bars.columns
        or bool(pd.to_numeric(bars["Adj Close"], errors="coerce").isna().all())
    ):
        raise AdjCloseMissingError(
            "total_return adjustment needs an 'Adj Close' column, and these bars have none (missing from the "
            "data, never copied from Close): use --adjust none, or data with Adj Close"
        )
