"""The bars convention shared by every source, and helpers to put a frame into it.

A symbol's bars are a pandas DataFrame with a tz-naive ``DatetimeIndex`` named ``"Date"`` (normalized to
midnight, sorted, unique; unit ``datetime64[us]``, pandas 3's default for parsed dates) and exactly the
float64 columns ``BAR_COLUMNS``.

**A missing Adj Close** is represented by an all-NaN "Adj Close" column (:func:`adj_close_missing` is the
flag): nothing invents it from Close. Every writer (Yahoo CSV, the archive, the per-run object) writes it
as missing values, so it stays missing through every round trip; the quality gate does not count it as a
NaN price; a total-return adjustment (``tradebot.strategy.prices``) refuses such bars.

**Duplicate dates** are never resolved silently (:func:`dedupe_dates`): for a date with several rows,
rows with every value missing are dropped, rows identical to another are dropped (each with a
:class:`BarsNote` saying so), and if different rows remain, :class:`DuplicateDatesError` names the dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tradebot.errors import InputValidationError

BAR_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
PRICE_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close")
OHLC_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")
REQUIRED_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Volume")  # "Adj Close" is optional
_LIST_AT_MOST = 5


@dataclass(frozen=True)
class BarsNote:
    """Something a reader did to the data it was given (reported as a quality-report warning)."""

    reason: str  # short code, e.g. empty_duplicate_dropped
    detail: str


class DuplicateDatesError(InputValidationError):
    """Rows with different values for the same date: which one is right cannot be known."""

    def __init__(self, message: str, dates: list[date]) -> None:
        super().__init__(message)
        self.dates = dates


def list_dates(index: pd.Index | list[date], limit: int = _LIST_AT_MOST) -> str:
    """``"2024-04-18, 2024-04-19 (+3 more)"``."""
    items = [pd.Timestamp(d).date().isoformat() for d in list(index)[:limit]]
    more = len(index) - limit
    return ", ".join(items) + (f" (+{more} more)" if more > 0 else "")


def empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], dtype="datetime64[us]", name="Date")
    return pd.DataFrame({c: np.array([], dtype=np.float64) for c in BAR_COLUMNS}, index=index)


def adj_close_missing(frame: pd.DataFrame) -> bool:
    """True when ``frame`` has no real Adj Close: no such column, or no known value in it."""
    return "Adj Close" not in frame.columns or bool(frame["Adj Close"].isna().all())


def to_naive_dates(index: pd.Index) -> pd.DatetimeIndex:
    """Dates of ``index`` as tz-naive midnights. A tz-aware index keeps its local wall date (a daily bar
    stamped 00:00 America/New_York is that day, not the previous day in UTC)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.normalize().as_unit("us").rename("Date")


def _resolve(values: np.ndarray, rows: list[int]) -> tuple[list[int], bool, bool, int]:
    """One repeated date's rows -> (rows to drop, an empty copy dropped, an identical copy dropped,
    how many different rows remain)."""
    full = [i for i in rows if not np.isnan(values[i]).all()]
    drop = [i for i in rows if i not in full]
    empty = bool(drop)
    if not full:  # every copy is empty: keep one (the quality gate sees an all-NaN bar)
        drop = drop[1:]
    distinct: list[int] = []
    identical = False
    for i in full:
        if any(np.array_equal(values[i], values[j], equal_nan=True) for j in distinct):
            drop.append(i)
            identical = True
        else:
            distinct.append(i)
    return drop, empty, identical, len(distinct)


def dedupe_dates(frame: pd.DataFrame, notes: list[BarsNote] | None = None) -> pd.DataFrame:
    """``frame`` with one row per index value (see the module docstring); sorts nothing.

    Raises :class:`DuplicateDatesError` when a date has rows with different values."""
    index = frame.index
    repeated = index.duplicated(keep=False)
    if not repeated.any():
        return frame
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    keep = np.ones(len(frame), dtype=bool)
    positions: dict[pd.Timestamp, list[int]] = {}
    for i in np.flatnonzero(repeated):
        positions.setdefault(index[i], []).append(int(i))
    empty_dropped: list[pd.Timestamp] = []
    identical_dropped: list[pd.Timestamp] = []
    conflicts: list[date] = []
    for stamp, rows in positions.items():
        drop, empty, identical, distinct = _resolve(values, rows)
        keep[drop] = False
        if empty:
            empty_dropped.append(stamp)
        if identical:
            identical_dropped.append(stamp)
        if distinct > 1:
            conflicts.append(pd.Timestamp(stamp).date())
    if conflicts:
        days = sorted(set(conflicts))
        raise DuplicateDatesError(
            f"{len(days)} date(s) with conflicting rows (different values for the same date): "
            f"{list_dates(days)}",
            days,
        )
    if notes is not None and empty_dropped:
        notes.append(
            BarsNote(
                "empty_duplicate_dropped",
                f"dropped an empty duplicate row (every value missing) of {list_dates(empty_dropped)}",
            )
        )
    if notes is not None and identical_dropped:
        notes.append(
            BarsNote(
                "identical_duplicate_dropped",
                f"dropped identical duplicate row(s) of {list_dates(identical_dropped)}",
            )
        )
    return frame.loc[keep]


def normalize_bars(frame: pd.DataFrame, notes: list[BarsNote] | None = None) -> pd.DataFrame:
    """Return ``frame`` in the bars convention: dated index (tz dropped, midnight), duplicates resolved by
    :func:`dedupe_dates` (conflicting rows raise :class:`DuplicateDatesError`), sorted, float64
    ``BAR_COLUMNS`` in order. A missing "Adj Close" becomes an all-NaN column (never a copy of Close);
    any other missing column raises ``KeyError``. What was dropped is appended to ``notes``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns: {', '.join(missing)}")
    length = len(frame)
    out = pd.DataFrame(
        {
            c: pd.to_numeric(frame[c], errors="raise").astype(np.float64).to_numpy()
            if c in frame.columns
            else np.full(length, np.nan)
            for c in BAR_COLUMNS
        },
        index=to_naive_dates(frame.index),
    )
    return dedupe_dates(out, notes).sort_index(kind="stable")


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
