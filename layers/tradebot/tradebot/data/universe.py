"""One run's bars: load (through the incremental archive for a live source), decide, check, report.

:func:`fetch_bars` does everything that can fail before anything is written: it loads the symbols,
raises if too many could not be loaded, and runs the quality gate. The caller then writes (archive
updates, the run's bars, the quality report), so a run that fails here changes nothing.

Failure rule: a symbol that cannot be loaded is skipped with its reason (the source's code: "no_data",
"unreadable", ...); the run fails with :class:`~tradebot.errors.UnknownSymbolError` when every
explicitly requested symbol failed to load (:class:`~tradebot.errors.InputValidationError` when every
one of them was an unreadable file), and with :class:`~tradebot.errors.DataQualityError` when more than
``max_failed_fraction`` of the symbols failed (default :data:`DEFAULT_MAX_FAILED_FRACTION`), counting the
symbols whose fetch failed but which the archive still had (a provider outage must not pass quietly as
"everything is stale"). A symbol whose data exists but cannot be used is not a load failure: data that
ends before the lookback window (``stale``, its last bar named), conflicting duplicate dates
(``duplicate_dates``), and every quality-gate skip (stale, NaN, ...) never fail the run: with none left
the pipeline records "nothing to trade". What the sources' readers did (dropped duplicates, aggregated
intraday rows) reaches the report as warnings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from tradebot.calendar import TradingCalendar
from tradebot.contracts import DataQualityReport, FetchStats, S3Pointer, SymbolIssue
from tradebot.data import QUALITY_CODES, STALE, UNREADABLE, BarSource, LoadResult
from tradebot.data.archive import BarStore, HistoryResult, save_history, update_history
from tradebot.data.quality import check_bars
from tradebot.errors import DataQualityError, InputValidationError, UnknownSymbolError

DEFAULT_MAX_FAILED_FRACTION = 0.5
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class FetchedBars:
    ok: dict[str, pd.DataFrame]  # tradable bars, symbols sorted
    report: DataQualityReport
    history: HistoryResult | None  # archive updates still to save (live sources)


def expected_last_session(calendar: TradingCalendar, as_of: date) -> date:
    """The session every symbol's last bar must be on: ``as_of`` itself if it is a session."""
    return as_of if calendar.is_session(as_of) else calendar.previous_session(as_of)


def ensure_session_closed(calendar: TradingCalendar, session: date, now: datetime) -> None:
    """Refuse a session whose close (13:00 New York on an early close) is after ``now``: a live
    source would return a partial bar for it."""
    close = calendar.session_close(session)
    if now.astimezone(UTC) < close:
        local = close.astimezone(NEW_YORK).strftime("%H:%M %Z")
        raise InputValidationError(
            f"the {session} session has not closed yet (it closes at {local}): its bars would be partial"
        )


def check_failures(
    symbols: Sequence[str],
    failures: dict[str, str],
    *,
    explicit: bool,
    max_failed_fraction: float,
    fetch_failures: dict[str, str] | None = None,
    codes: dict[str, str] | None = None,
) -> None:
    """Raise if too many symbols could not be loaded (see the module docstring). ``fetch_failures``:
    symbols whose fetch failed although stored bars were found; ``codes``: the failures' reason codes
    (symbols whose code is in QUALITY_CODES have data and do not count)."""
    codes = codes or {}
    symbols = list(dict.fromkeys(symbols))
    usable = {s for s, c in codes.items() if c in QUALITY_CODES}
    failures = {s: r for s, r in failures.items() if s not in usable}
    if explicit and symbols and set(failures) >= set(symbols):
        details = "; ".join(f"{s}: {r}" for s, r in sorted(failures.items()))
        if all(codes.get(s) == UNREADABLE for s in failures):
            raise InputValidationError(f"the data of every requested symbol is unreadable: {details}")
        raise UnknownSymbolError(f"no data for any requested symbol: {details}")
    failed = {**{s: r for s, r in (fetch_failures or {}).items() if s not in usable}, **failures}
    if not symbols or not failed:
        return
    details = "; ".join(f"{s}: {r}" for s, r in sorted(failed.items()))
    fraction = len(failed) / len(symbols)
    if fraction > max_failed_fraction:
        raise DataQualityError(
            f"{len(failures)} of {len(symbols)} symbols could not be loaded ({fraction:.0%} > "
            f"max_failed_fraction {max_failed_fraction:.0%}): {details}"
        )


def fetch_bars(
    source: BarSource,
    symbols: Sequence[str],
    as_of: date,
    calendar: TradingCalendar,
    *,
    run_id: str,
    start: date | None,
    archive: BarStore | None = None,
    explicit: bool = False,
    max_failed_fraction: float | None = None,
    min_bars: int | None = None,
) -> FetchedBars:
    """Load, decide and check one run's bars as of ``as_of``'s close (on a closed day: the session
    before). Writes nothing."""
    started = time.perf_counter()
    expected = expected_last_session(calendar, as_of)
    history: HistoryResult | None = None
    stats = FetchStats()
    if archive is not None:
        history = update_history(source, archive, symbols, start, as_of, up_to=expected)
        loaded = history.as_load_result()
        stats = FetchStats(
            archive=archive.name,
            requested=history.requested,
            from_archive=history.from_store,
            new_bars=history.new_bars,
            restated=sorted(s for s, u in history.updates.items() if u.restated),
            source_calls=history.source_calls,
        )
    else:
        loaded = source.load(list(symbols), start, as_of)
        stats = FetchStats(requested=len(set(symbols)), source_calls=1)
    fetch_failures = (
        {
            w.symbol: w.detail
            for w in history.warnings
            if w.reason == "fetch_failed" and w.symbol not in history.ended_at_source
        }
        if history
        else {}
    )
    check_failures(
        symbols,
        loaded.failures,
        explicit=explicit,
        max_failed_fraction=DEFAULT_MAX_FAILED_FRACTION
        if max_failed_fraction is None
        else max_failed_fraction,
        fetch_failures=fetch_failures,
        codes=loaded.codes,
    )
    return _checked(source, loaded, history, stats, as_of, expected, calendar, run_id, min_bars, started)


def _checked(
    source: BarSource,
    loaded: LoadResult,
    history: HistoryResult | None,
    stats: FetchStats,
    as_of: date,
    expected: date,
    calendar: TradingCalendar,
    run_id: str,
    min_bars: int | None,
    started: float,
) -> FetchedBars:
    kwargs: dict[str, Any] = {} if min_bars is None else {"min_bars": min_bars}
    quality = check_bars(loaded.frames, as_of, calendar, **kwargs)
    skipped = [
        SymbolIssue(symbol=s, reason=loaded.code(s), detail=_detail(loaded, s, r, expected, as_of))
        for s, r in sorted(loaded.failures.items())
    ]
    warnings = list(loaded.warnings)
    ok = sorted(quality.ok)
    report = DataQualityReport(
        run_id=run_id,
        as_of=as_of,
        source=source.name,
        synthetic=source.synthetic,
        expected_last_session=expected,
        ok=ok,
        skipped=skipped + quality.issues,
        warnings=warnings + quality.warnings,
        fetch=stats.model_copy(update={"seconds": round(time.perf_counter() - started, 3)}),
        splits=sorted(
            (e for e in loaded.splits if e.symbol in quality.ok and e.ex_date <= as_of),
            key=lambda e: (e.symbol, e.ex_date),
        ),
    )
    return FetchedBars(ok={s: quality.ok[s] for s in ok}, report=report, history=history)


def _detail(loaded: LoadResult, symbol: str, reason: str, expected: date, as_of: date) -> str:
    if loaded.code(symbol) == STALE:
        return f"{reason} (expected a bar on {expected} for as_of {as_of})"
    return reason


def save_archive(archive: BarStore, fetched: FetchedBars, source: str) -> list[str]:
    """Write the archive updates of a fetch (symbols whose stored history changed)."""
    return save_history(archive, fetched.history, source) if fetched.history is not None else []


def write_quality_report(s3: Any, bucket: str, key: str, report: DataQualityReport) -> S3Pointer:
    """The report as indented JSON (readable in the S3 console), ``ContentType: application/json``."""
    body = json.dumps(report.model_dump(mode="json"), indent=1, sort_keys=False).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return S3Pointer(bucket=bucket, key=key)
