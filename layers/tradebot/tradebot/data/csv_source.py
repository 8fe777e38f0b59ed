"""Bars from a directory of Yahoo-format CSV files (``csv:DIR``), one ``SYMBOL.csv`` per symbol (or
``SYMBOL.csv.gz``, gzip-compressed, as in the S3 bar archive; a plain ``.csv`` wins if both exist).

Format: header ``Date,Open,High,Low,Close,Adj Close,Volume``; dates ``YYYY-MM-DD`` (a time or UTC offset
after the date, as ``DataFrame.to_csv`` writes for a tz-aware index, is ignored: the date is the bar's);
``null`` or empty means missing (NaN); "Adj Close" may be absent (copied from Close); a missing trailing
newline, extra columns, column-name whitespace and unsorted or duplicated dates are tolerated.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO

import pandas as pd

from tradebot.data import LoadResult
from tradebot.data.bars import BAR_COLUMNS, format_rows, normalize_bars, slice_bars
from tradebot.errors import InputValidationError

NA_VALUES = ["null", "NULL", "Null", "NaN", "nan", "N/A", ""]


def read_yahoo_csv(path: str | os.PathLike[str] | IO[str] | IO[bytes]) -> pd.DataFrame:
    """Read one Yahoo-format CSV into the bars convention; raise InputValidationError if unreadable."""
    label = str(path) if isinstance(path, str | os.PathLike) else getattr(path, "name", "<stream>")
    try:
        raw = pd.read_csv(path, na_values=NA_VALUES, keep_default_na=False, dtype=str, skipinitialspace=True)
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
        raise InputValidationError(f"{label}: not a readable CSV ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if "Date" not in raw.columns:
        raise InputValidationError(f"{label}: no Date column (expected {','.join(('Date', *BAR_COLUMNS))})")
    dates = _parse_dates(raw["Date"], label)
    values = raw.drop(columns=["Date"])
    try:
        numeric = values.apply(lambda col: pd.to_numeric(col.str.strip(), errors="raise"))
        numeric.index = dates
        return normalize_bars(numeric)
    except KeyError as exc:
        raise InputValidationError(f"{label}: {exc.args[0]}") from None
    except (ValueError, TypeError) as exc:
        raise InputValidationError(f"{label}: non-numeric value ({exc})") from None


def _parse_dates(col: pd.Series, label: str) -> pd.DatetimeIndex:
    text = col.astype(str).str.strip()
    try:
        return pd.DatetimeIndex(pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d"))
    except (ValueError, TypeError):
        pass
    try:  # another unambiguous format pandas understands (e.g. 2024/01/02)
        parsed = pd.DatetimeIndex(pd.to_datetime(text, format="mixed"))
    except (ValueError, TypeError) as exc:
        raise InputValidationError(f"{label}: unreadable Date ({exc})") from None
    return parsed.tz_localize(None) if parsed.tz is not None else parsed


def write_yahoo_csv(frame: pd.DataFrame, path: str | os.PathLike[str] | IO[str]) -> None:
    """Write bars as Yahoo-format CSV (dates YYYY-MM-DD, shortest exact float text, NaN as ``null``).

    ``read_yahoo_csv(write_yahoo_csv(frame))`` gives back ``frame`` exactly (float64 round-trip)."""
    bars = normalize_bars(frame)
    dates = bars.index.strftime("%Y-%m-%d").tolist()
    rows = format_rows(bars[list(BAR_COLUMNS)].to_numpy(), na="null")
    text = io.StringIO()
    text.write("Date," + ",".join(BAR_COLUMNS) + "\n")
    for day, row in zip(dates, rows, strict=True):
        text.write(f"{day},{row}\n")
    data = text.getvalue()
    if isinstance(path, str | os.PathLike):
        Path(path).write_text(data, encoding="utf-8")
    else:
        path.write(data)


def symbol_of_file(name: str) -> str | None:
    """``"spy.csv"`` -> ``"SPY"``, ``"SPY.csv.gz"`` -> ``"SPY"``; None for any other file name."""
    lowered = name.lower()
    for suffix in (".csv", ".csv.gz"):
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].upper()
    return None


class CsvSource:
    """``csv:DIR``: one Yahoo-format ``SYMBOL.csv`` per symbol (file names matched case-insensitively)."""

    synthetic = False
    live = False

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        path = Path(directory).expanduser().resolve()
        if not path.is_dir():
            raise InputValidationError(f"csv source: {directory} is not a directory")
        self.directory = path
        self.name = f"csv:{path}"

    def _files(self) -> dict[str, Path]:
        files: dict[str, Path] = {}
        # sorted by name: "X.csv" comes before "X.csv.gz", and the first one found wins
        for path in sorted(self.directory.iterdir(), key=lambda p: p.name.lower()):
            symbol = symbol_of_file(path.name)
            if symbol is not None and path.is_file():
                files.setdefault(symbol, path)
        return files

    def default_symbols(self) -> list[str] | None:
        return sorted(self._files())

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        files = self._files()
        for symbol in symbols:
            path = files.get(symbol.upper())
            if path is None:
                result.failures[symbol] = f"no data: no {symbol}.csv in {self.directory}"
                continue
            try:
                frame = slice_bars(read_yahoo_csv(path), start, end)
            except InputValidationError as exc:
                result.failures[symbol] = f"unreadable CSV: {exc}"
                continue
            if frame.empty:
                result.failures[symbol] = f"no data: {path.name} has no bars in the requested range"
            else:
                result.frames[symbol] = frame
        return result
