"""Market data: where bars come from (:class:`BarSource`) and how to choose one (:func:`source_from_spec`).

Sources: ``"sample"`` (deterministic synthetic SYN-A..SYN-E, offline), ``"yfinance"`` (Yahoo Finance),
``"csv:DIR"`` (one Yahoo-format ``SYMBOL.csv`` or ``SYMBOL.csv.gz`` per symbol) and ``"s3://bucket/prefix"``
(the same files in S3; the bar archive ``s3://<DATA_BUCKET>/archive/bars`` is one). Every source returns
bars in the convention of :mod:`tradebot.data.bars`.

A *live* source (``live = True``: yfinance) is a remote provider of current data: the pipeline fronts it
with the incremental S3 archive (:mod:`tradebot.data.archive`) and refuses a session that has not closed.

A source says what it did (:class:`LoadResult`): the bars of each symbol that loaded, a reason per
symbol that did not (with a short code: ``no_data`` unless said otherwise; ``stale`` when the symbol's
data exists but ends before the requested range; ``duplicate_dates``; ``unreadable``; ...), and warnings
about what its reader changed (dropped duplicate rows, intraday rows aggregated), which reach the run's
quality report. Codes in :data:`QUALITY_CODES` mean "the data exists but cannot be used": the symbol is
skipped like a quality-gate skip and does not count as a load failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd

from tradebot.contracts import SplitEvent, SymbolIssue
from tradebot.data.bars import (
    BAR_COLUMNS,
    PRICE_COLUMNS,
    BarsNote,
    empty_bars,
    normalize_bars,
    slice_bars,
)
from tradebot.errors import InputValidationError

if TYPE_CHECKING:
    from tradebot.calendar import TradingCalendar

__all__ = [
    "BAR_COLUMNS",
    "PRICE_COLUMNS",
    "QUALITY_CODES",
    "BarSource",
    "LoadResult",
    "default_as_of",
    "empty_bars",
    "normalize_bars",
    "slice_bars",
    "source_from_spec",
]

VALID_SPECS = '"sample", "yfinance", "csv:DIR" (a directory of SYMBOL.csv files) or "s3://bucket/prefix"'


NO_DATA = "no_data"
STALE = "stale"
DUPLICATE_DATES = "duplicate_dates"
UNREADABLE = "unreadable"
# The symbol's data exists but cannot be used: skipped with this reason, never counted as a load failure.
QUALITY_CODES = frozenset({STALE, DUPLICATE_DATES})


@dataclass
class LoadResult:
    """Bars per symbol that loaded, a reason text per symbol that did not (with its code in ``codes``;
    absent: ``no_data``), warnings about what the reader did to the data it kept, and the split events
    the source reported with the bars (yfinance does; a CSV has none: a split shows only as a restated
    history, which PaperTrade detects)."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    warnings: list[SymbolIssue] = field(default_factory=list)
    splits: list[SplitEvent] = field(default_factory=list)

    def fail(self, symbol: str, detail: str, code: str = NO_DATA) -> None:
        self.failures[symbol] = detail
        self.frames.pop(symbol, None)
        if code == NO_DATA:
            self.codes.pop(symbol, None)
        else:
            self.codes[symbol] = code

    def code(self, symbol: str) -> str:
        """The failure code of ``symbol`` (``no_data`` unless the source said otherwise)."""
        return self.codes.get(symbol, NO_DATA)

    def note(self, symbol: str, notes: Sequence[BarsNote], where: str = "") -> None:
        """Record what a reader did to ``symbol``'s data as warnings."""
        prefix = f"{where}: " if where else ""
        self.warnings.extend(
            SymbolIssue(symbol=symbol, reason=n.reason, detail=prefix + n.detail) for n in notes
        )

    def place(self, symbol: str, full: pd.DataFrame, start: date | None, end: date, where: str) -> None:
        """Put the rows of ``full`` (a symbol's whole history) within ``start..end`` in ``frames``; none
        there: ``stale`` when the history ends before ``start`` (naming its last bar), else ``no_data``."""
        frame = slice_bars(full, start, end)
        if not frame.empty:
            self.frames[symbol] = frame
        elif len(full) and start is not None and full.index[-1] < pd.Timestamp(start):
            last = full.index[-1].date()
            self.fail(
                symbol, f"last bar {last}: {where} ends before the requested range {start}..{end}", STALE
            )
        else:
            self.fail(symbol, f"no data: {where} has no bars in the requested range")


@runtime_checkable
class BarSource(Protocol):
    name: str  # "sample", "yfinance", "csv:/abs/dir", "s3://bucket/prefix"
    synthetic: bool  # True only for generated sample data
    live: bool  # a remote provider of current data (archived incrementally; partial sessions refused)

    def default_symbols(self) -> list[str] | None:
        """The symbols this source offers when none are requested (None: it has no fixed list)."""
        ...

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        """Bars with ``start <= date <= end`` (inclusive; ``start=None``: all history). Never after end."""
        ...


def default_as_of(source: BarSource, calendar: TradingCalendar, now: datetime) -> date:
    """The day a run decides on when none is given: the sample's fixed demo session for the sample data;
    else today in New York when the exchange is closed today (a weekend or holiday: the run reports the
    market closed rather than deciding again on the previous session), otherwise the latest session
    whose close is at or before ``now`` (an early close counts from 13:00)."""
    if source.synthetic and source.name == "sample":
        from tradebot.data.sample import SAMPLE_DEFAULT_AS_OF

        return SAMPLE_DEFAULT_AS_OF
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo("America/New_York")).date()
    if not calendar.is_session(today):
        return today
    return calendar.latest_completed_session(now)


def source_from_spec(spec: str, *, cache_dir: str | None = None) -> BarSource:
    """Build the source named by ``spec``; anything unrecognized raises InputValidationError."""
    text = spec.strip() if isinstance(spec, str) else ""
    lowered = text.lower()
    if lowered == "sample":
        from tradebot.data.sample import SampleSource

        return SampleSource()
    if lowered == "yfinance":
        from tradebot.data.yfinance_source import YFinanceSource

        return YFinanceSource(cache_dir=cache_dir)
    if lowered.startswith("csv:") and text[4:].strip():
        from tradebot.data.csv_source import CsvSource

        return CsvSource(text[4:].strip())
    if lowered.startswith("s3://"):
        from tradebot.data.s3_source import S3Source

        return S3Source.from_url(text)
    raise InputValidationError(f"unknown data source {spec!r}: use {VALID_SPECS}")
