"""Market data: where bars come from (:class:`BarSource`) and how to choose one (:func:`source_from_spec`).

Sources: ``"sample"`` (deterministic synthetic SYN-A..SYN-E, offline), ``"yfinance"`` (Yahoo Finance),
``"csv:DIR"`` (one Yahoo-format ``SYMBOL.csv`` or ``SYMBOL.csv.gz`` per symbol) and ``"s3://bucket/prefix"``
(the same files in S3; the bar archive ``s3://<DATA_BUCKET>/archive/bars`` is one). Every source returns
bars in the convention of :mod:`tradebot.data.bars`.

A *live* source (``live = True``: yfinance) is a remote provider of current data: the pipeline fronts it
with the incremental S3 archive (:mod:`tradebot.data.archive`) and refuses a session that has not closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd

from tradebot.data.bars import BAR_COLUMNS, PRICE_COLUMNS, empty_bars, normalize_bars, slice_bars
from tradebot.errors import InputValidationError

if TYPE_CHECKING:
    from tradebot.calendar import TradingCalendar

__all__ = [
    "BAR_COLUMNS",
    "PRICE_COLUMNS",
    "BarSource",
    "LoadResult",
    "default_as_of",
    "empty_bars",
    "normalize_bars",
    "slice_bars",
    "source_from_spec",
]

VALID_SPECS = '"sample", "yfinance", "csv:DIR" (a directory of SYMBOL.csv files) or "s3://bucket/prefix"'


@dataclass
class LoadResult:
    """Bars per symbol that loaded, and a reason text per symbol that did not."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


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
