"""The bar archive: the history a store already holds, plus only the newer bars a source has.

The store is the source of truth for history. For a live source (yfinance) the pipeline keeps it in S3,
one object per symbol::

    s3://<DATA_BUCKET>/archive/bars/<SYMBOL>.csv.gz

Each object is a gzip-compressed Yahoo-format CSV, exactly what :func:`~tradebot.data.csv_source.
write_yahoo_csv` writes: header ``Date,Open,High,Low,Close,Adj Close,Volume``, one row per session, dates
``YYYY-MM-DD`` ascending, NaN as ``null``, floats as the shortest text that parses back to the same
float64. ``ContentType`` is ``application/gzip`` (no Content-Encoding: nothing unzips it on the way) and
the metadata says which source wrote it and its last bar. Read one with
``aws s3 cp s3://<bucket>/archive/bars/SPY.csv.gz - | gunzip | tail``, or use the whole archive as a
source: ``--source s3://<bucket>/archive/bars``. ``tradebot data fetch --out DIR`` keeps the same
history in a local directory (``DIR/<SYMBOL>.csv``, :class:`DirectoryStore`).

How an update works (:func:`update_history`, then :func:`save_history`):

* a symbol whose stored last bar is on or after ``up_to`` (the latest session the run needs) is not
  requested at all;
* the others are requested from their second-to-last stored bar (two bars of overlap) to ``end``;
  symbols with the same start date share one request, so a daily run is one batched download;
* a symbol the store does not have yet is requested from ``start``;
* the source's bars win where both have one: a correction of the last stored bar is simply taken. If an
  earlier overlapping bar's Close or Adj Close differs, the provider has restated history (a split or a
  dividend re-adjusts every earlier bar): the symbol's whole stored range is requested again and
  replaces the stored bars (warning ``history_restated``);
* when the source fails for a symbol the store has, the stored bars are used (warning ``fetch_failed``)
  and the quality gate decides (usually ``stale``); stored bars that all end before the requested range
  make the symbol ``stale`` (its last stored bar named), not "no data";
* what the source's reader did (dropped duplicates, aggregated intraday rows) is kept as warnings, and its
  failure codes (``stale``, ``duplicate_dates``, ...) are kept with the failures; the split events it
  reported with the bars asked for are kept (``splits``: they reach the run's quality report).

Nothing is written by :func:`update_history`: :func:`save_history` writes the symbols that changed, so a
run that fails its checks changes nothing. History only grows forward: bars before the stored first bar
are never fetched again, except by a restatement.
"""

from __future__ import annotations

import gzip
import io
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from tradebot.contracts import SplitEvent, SymbolIssue
from tradebot.data import NO_DATA, STALE, BarSource, LoadResult
from tradebot.data.bars import BAR_COLUMNS, normalize_bars, slice_bars
from tradebot.data.csv_source import read_yahoo_csv, write_yahoo_csv
from tradebot.errors import InputValidationError, RetryableError

ARCHIVE_PREFIX = "archive/bars"
CONTENT_TYPE = "application/gzip"
GZIP_LEVEL = 6  # one object per symbol, rewritten once a day: size matters more than the ~10 ms
RESTATEMENT_TOLERANCE = 1e-6  # relative: vendors' float noise is far below, a split or dividend far above
_THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"})

T = TypeVar("T")
R = TypeVar("R")


class BarStore(Protocol):
    name: str

    def read(self, symbol: str) -> pd.DataFrame | None:
        """The stored bars of ``symbol`` (bars convention), None if there are none.
        Raises InputValidationError if the stored object cannot be read."""
        ...

    def write(self, symbol: str, frame: pd.DataFrame, source: str) -> None:
        """Replace the stored bars of ``symbol``."""
        ...


def encode_symbol_bars(frame: pd.DataFrame) -> bytes:
    """The gzip Yahoo-format CSV bytes of one symbol's bars (no timestamp in the gzip header)."""
    text = io.StringIO()
    write_yahoo_csv(frame, text)
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=GZIP_LEVEL, mtime=0)


def decode_symbol_bars(data: bytes, label: str) -> pd.DataFrame:
    """Bars from :func:`encode_symbol_bars`' bytes (a plain CSV is accepted too)."""
    try:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as exc:
        raise InputValidationError(f"{label}: not a readable gzip file ({exc})") from None
    if not raw:
        raise InputValidationError(f"{label}: empty object")
    stream = io.BytesIO(raw)
    stream.name = label  # type: ignore[attr-defined]  # read_yahoo_csv names the stream in its errors
    return read_yahoo_csv(stream)


class S3BarArchive:
    """``s3://bucket/archive/bars/<SYMBOL>.csv.gz``: the pipeline's history of a live source."""

    def __init__(self, s3: Any, bucket: str, prefix: str = ARCHIVE_PREFIX) -> None:
        if not bucket:
            raise InputValidationError("bar archive: the bucket name is empty")
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.name = f"s3://{bucket}/{self.prefix}"

    def key(self, symbol: str) -> str:
        return f"{self.prefix}/{symbol}.csv.gz"

    def read(self, symbol: str) -> pd.DataFrame | None:
        from botocore.exceptions import ClientError

        key = self.key(symbol)
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404"):
                return None
            if code in _THROTTLING:
                raise RetryableError(f"S3 throttled reading s3://{self.bucket}/{key}: {code}") from exc
            raise
        return decode_symbol_bars(body, f"s3://{self.bucket}/{key}")

    def write(self, symbol: str, frame: pd.DataFrame, source: str) -> None:
        bars = normalize_bars(frame)
        last = bars.index[-1].date().isoformat() if len(bars) else ""
        self._s3.put_object(
            Bucket=self.bucket,
            Key=self.key(symbol),
            Body=encode_symbol_bars(bars),
            ContentType=CONTENT_TYPE,
            Metadata={"source": source, "last-bar": last, "format": "yahoo-csv"},
        )


class DirectoryStore:
    """``DIR/<SYMBOL>.csv`` (Yahoo format, reusable as ``--source csv:DIR``); writes are atomic."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.name = str(self.directory)

    def path(self, symbol: str) -> Path:
        return self.directory / f"{symbol}.csv"

    def read(self, symbol: str) -> pd.DataFrame | None:
        path = self.path(symbol)
        return read_yahoo_csv(path) if path.is_file() else None

    def write(self, symbol: str, frame: pd.DataFrame, source: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(symbol)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # same directory: rename is atomic
        try:
            with tmp.open("w", encoding="utf-8", newline="") as handle:
                write_yahoo_csv(frame, handle)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


@dataclass
class SymbolUpdate:
    """What happened to one symbol's history in an update."""

    stored_last: date | None  # the store's last bar before the update (None: not stored)
    requested: bool = False  # asked of the source
    requested_from: date | None = None  # the start date asked (None: all the source has)
    new_bars: int = 0  # bars the store did not have
    restated: bool = False  # the source restated history: the stored bars were replaced


@dataclass
class HistoryResult:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # sliced to [start, end]
    failures: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # failure codes other than no_data
    warnings: list[SymbolIssue] = field(default_factory=list)
    updates: dict[str, SymbolUpdate] = field(default_factory=dict)
    changed: dict[str, pd.DataFrame] = field(default_factory=dict)  # full new history, to be saved
    source_calls: int = 0
    # stored symbols the source answered have no newer bars (its code ``stale``): not an outage
    ended_at_source: set[str] = field(default_factory=set)
    splits: list[SplitEvent] = field(default_factory=list)  # split events the source reported

    def as_load_result(self) -> LoadResult:
        return LoadResult(
            frames=self.frames,
            failures=self.failures,
            codes=dict(self.codes),
            warnings=list(self.warnings),
            splits=list(self.splits),
        )

    def fail(self, symbol: str, reason: str, code: str = NO_DATA) -> None:
        self.failures[symbol] = reason
        if code != NO_DATA:
            self.codes[symbol] = code

    @property
    def new_bars(self) -> int:
        return sum(u.new_bars for u in self.updates.values())

    @property
    def from_store(self) -> int:
        """Symbols whose history came from the store (fully, or with newer bars added)."""
        return sum(1 for u in self.updates.values() if u.stored_last is not None)

    @property
    def requested(self) -> int:
        return sum(1 for u in self.updates.values() if u.requested)


def _parallel(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _read_all(
    store: BarStore, symbols: Sequence[str], workers: int
) -> tuple[dict[str, pd.DataFrame | None], dict[str, str]]:
    def read(symbol: str) -> tuple[str, pd.DataFrame | None, str]:
        try:
            frame = store.read(symbol)
        except InputValidationError as exc:
            return symbol, None, str(exc)
        return symbol, (frame if frame is not None and len(frame) else None), ""

    stored: dict[str, pd.DataFrame | None] = {}
    broken: dict[str, str] = {}
    for symbol, frame, problem in _parallel(read, symbols, workers):
        if problem:
            broken[symbol] = problem
        else:
            stored[symbol] = frame
    return stored, broken


def _restated(stored: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """True if a bar both have, other than the last stored one (which a vendor may still correct),
    differs in Close or Adj Close beyond float noise."""
    common = stored.index[:-1].intersection(fresh.index)
    if len(common) == 0:
        return False
    a = stored.loc[common, ["Close", "Adj Close"]].to_numpy()
    b = fresh.loc[common, ["Close", "Adj Close"]].to_numpy()
    known = ~(np.isnan(a) | np.isnan(b))
    return bool((np.abs(a - b) > RESTATEMENT_TOLERANCE * np.abs(a))[known].any())


def _merge(stored: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """Stored bars before the first fresh bar, then the fresh bars (the source wins where both have one)."""
    older = stored.loc[stored.index < fresh.index[0]]
    return normalize_bars(pd.concat([older, fresh]))


def update_history(
    source: BarSource,
    store: BarStore,
    symbols: Sequence[str],
    start: date | None,
    end: date,
    *,
    up_to: date,
    workers: int = 8,
) -> HistoryResult:
    """Each symbol's bars in ``[start, end]`` from the store, after asking ``source`` only for what the
    store lacks up to ``up_to`` (see the module docstring). Writes nothing: see :func:`save_history`."""
    result = HistoryResult()
    unique = list(dict.fromkeys(symbols))
    stored, broken = _read_all(store, unique, workers)
    for symbol, problem in broken.items():
        # a stored history that cannot be read needs a person: it is neither used nor overwritten
        result.failures[symbol] = f"archive unreadable: {problem}"
    history = {s: f for s, f in stored.items() if f is not None}
    groups = _plan(result, stored, start, up_to)
    restated: list[str] = []
    for begin, group in groups.items():
        loaded = source.load(group, begin, end)
        result.source_calls += 1
        restated += _apply(result, history, group, loaded)
    for symbol in restated:
        _refetch(result, history, source, symbol, end)
    for symbol in unique:
        frame = history.get(symbol)
        if frame is None or symbol in result.failures:
            continue
        window = slice_bars(frame, start, end)
        stored_range = f"{frame.index[0].date()}..{frame.index[-1].date()}"
        if window.empty and start is not None and frame.index[-1] < pd.Timestamp(start):
            result.fail(
                symbol,
                f"last bar {frame.index[-1].date()}: the stored bars ({stored_range}) end before the "
                f"requested range {start}..{end}",
                STALE,
            )
        elif window.empty:
            result.failures[symbol] = f"no data: the stored bars ({stored_range}) have none in {start}..{end}"
        else:
            result.frames[symbol] = window[list(BAR_COLUMNS)]
    return result


def _plan(
    result: HistoryResult, stored: dict[str, pd.DataFrame | None], start: date | None, up_to: date
) -> dict[date | None, list[str]]:
    """Start date -> the symbols to request from it (symbols already up to date are not requested)."""
    groups: dict[date | None, list[str]] = {}
    for symbol, frame in stored.items():
        last = frame.index[-1].date() if frame is not None else None
        update = SymbolUpdate(stored_last=last)
        result.updates[symbol] = update
        if frame is None:
            update.requested_from = start
        elif frame.index[-1].date() < up_to:
            update.requested_from = frame.index[-min(2, len(frame))].date()  # two bars of overlap
        else:
            continue
        update.requested = True
        groups.setdefault(update.requested_from, []).append(symbol)
    return groups


def _apply(
    result: HistoryResult, history: dict[str, pd.DataFrame], group: list[str], loaded: LoadResult
) -> list[str]:
    """Merge one request's bars into ``history``; returns the symbols whose history was restated."""
    restated: list[str] = []
    result.warnings.extend(w for w in loaded.warnings if w.symbol in group)
    result.splits.extend(e for e in loaded.splits if e.symbol in group)
    for symbol in group:
        fresh = loaded.frames.get(symbol)
        old = history.get(symbol)
        if fresh is None or len(fresh) == 0:
            reason = loaded.failures.get(symbol, "no data")
            if old is None:
                result.fail(symbol, reason, loaded.code(symbol))
            else:
                result.warnings.append(_fetch_failed(symbol, f"stored bars used: {reason}"))
                if loaded.code(symbol) == STALE:
                    result.ended_at_source.add(symbol)
            continue
        fresh = normalize_bars(fresh)
        if old is None:
            _record(result, symbol, fresh, new_bars=len(fresh))
        elif _restated(old, fresh):
            restated.append(symbol)
            continue
        else:
            merged = _merge(old, fresh)
            new_bars = len(merged.index.difference(old.index))
            _record(result, symbol, merged, new_bars=new_bars, replace=not merged.equals(old))
        history[symbol] = result.changed.get(symbol, history.get(symbol, fresh))
    return restated


def _refetch(
    result: HistoryResult, history: dict[str, pd.DataFrame], source: BarSource, symbol: str, end: date
) -> None:
    """A restated symbol (rare: a split or dividend): one request for its whole stored range."""
    old = history[symbol]
    loaded = source.load([symbol], old.index[0].date(), end)
    result.source_calls += 1
    fresh = loaded.frames.get(symbol)
    if fresh is None or len(fresh) == 0:
        reason = loaded.failures.get(symbol, "no data")
        detail = f"history restated by the source, refetching it failed ({reason}): stored bars used"
        result.warnings.append(_fetch_failed(symbol, detail))
        return
    fresh = normalize_bars(fresh)
    known = {(e.symbol, e.ex_date) for e in result.splits}
    result.splits.extend(e for e in loaded.splits if (e.symbol, e.ex_date) not in known)
    _record(result, symbol, fresh, new_bars=len(fresh.index.difference(old.index)), replace=True)
    result.updates[symbol].restated = True
    result.warnings.append(
        SymbolIssue(
            symbol=symbol,
            reason="history_restated",
            detail=f"the source's prices before {old.index[-1].date()} changed (split or dividend "
            f"adjustment): {len(fresh)} bars refetched, the stored history replaced",
        )
    )
    history[symbol] = fresh


def _fetch_failed(symbol: str, detail: str) -> SymbolIssue:
    return SymbolIssue(symbol=symbol, reason="fetch_failed", detail=detail)


def _record(
    result: HistoryResult, symbol: str, frame: pd.DataFrame, *, new_bars: int, replace: bool = False
) -> None:
    """Note the symbol's new history; it is saved if anything differs from what is stored."""
    result.updates[symbol].new_bars = new_bars
    if new_bars or replace or result.updates[symbol].stored_last is None:
        result.changed[symbol] = frame


def save_history(store: BarStore, result: HistoryResult, source: str, *, workers: int = 8) -> list[str]:
    """Write the symbols whose history changed; returns them in order."""
    symbols = list(result.changed)
    _parallel(lambda s: store.write(s, result.changed[s], source), symbols, workers)
    return symbols
