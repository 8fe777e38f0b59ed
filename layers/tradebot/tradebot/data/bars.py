"""The bars convention shared by every source, and helpers to put a frame into it.

A symbol's bars are a pandas DataFrame with a tz-naive ``DatetimeIndex`` named ``"Date"`` (normalized to
midnight, sorted, unique; unit ``datetime64[us]``, pandas 3's default for parsed dates) and exactly the
float64 columns ``BAR_COLUMNS``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

BAR_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
PRICE_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close")


def empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], dtype="datetime64[us]", name="Date")
    return pd.DataFrame({c: np.array([], dtype=np.float64) for c in BAR_COLUMNS}, index=index)


def to_naive_dates(index: pd.Index) -> pd.DatetimeIndex:
    """Dates of ``index`` as tz-naive midnights. A tz-aware index keeps its local wall date (a daily bar
    stamped 00:00 America/New_York is that day, not the previous day in UTC)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.normalize().as_unit("us").rename("Date")


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` in the bars convention: dated index (tz dropped, midnight), sorted, duplicates
    dropped (the last row of a date wins), float64 ``BAR_COLUMNS`` in order. A missing "Adj Close" is
    copied from "Close"; any other missing column raises ``KeyError``."""
    missing = [c for c in BAR_COLUMNS if c not in frame.columns and c != "Adj Close"]
    if "Close" not in frame.columns and "Adj Close" not in missing:
        missing.append("Close")
    if missing:
        raise KeyError(f"missing columns: {', '.join(missing)}")
    out = pd.DataFrame(
        {
            c: pd.to_numeric(frame[c if c in frame.columns else "Close"], errors="raise").astype(np.float64)
            for c in BAR_COLUMNS
        }
    )
    out.index = to_naive_dates(frame.index)
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


def slice_bars(frame: pd.DataFrame, start: date | None, end: date) -> pd.DataFrame:
    """Rows with ``start <= date <= end`` (``start=None``: from the first row). Never after ``end``."""
    idx = frame.index
    mask = idx <= pd.Timestamp(end)
    if start is not None:
        mask &= idx >= pd.Timestamp(start)
    return frame.loc[mask].copy()


def format_rows(values: np.ndarray, na: str) -> list[str]:
    """Each row of a 2-D float64 array as comma-separated text that parses back to the same float64s.

    A column whose known values are all whole numbers (volume) is written without ".0"; other values use
    Python's shortest round-trip ``repr``; NaN becomes ``na``. (``repr`` of a whole list runs its loop in
    C, which is what makes this ~2x faster than ``DataFrame.to_csv`` for exact output.)"""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        return []
    columns: list[list[str]] = []
    for j in range(values.shape[1]):
        col = values[:, j]
        nan = np.isnan(col)
        known = col[~nan]
        if np.isfinite(known).all() and (np.abs(known) < 1e15).all() and (known == np.rint(known)).all():
            texts = list(map(str, np.where(nan, 0.0, col).astype(np.int64).tolist()))
        else:
            texts = repr(col.tolist())[1:-1].split(", ")
        if nan.any():
            texts = [na if missing else t for t, missing in zip(texts, nan.tolist(), strict=True)]
        columns.append(texts)
    return list(map(",".join, zip(*columns, strict=True)))
