"""Bars from Yahoo Finance through ``yfinance.download``, behind one replaceable boundary function.

``YFinanceSource(download=...)`` takes the download callable (default :func:`yfinance_download`, a thin
wrapper of ``yfinance.download``); tests pass a fake that returns frames shaped like yfinance 1.x output.
Symbols are downloaded in batches (``batch_size``, default 50) with every behaviour-changing argument
explicit: ``auto_adjust=False`` (raw OHLC plus "Adj Close"), ``actions=True`` (the "Stock Splits" column:
each split's ratio on its ex-date, kept as :class:`~tradebot.contracts.SplitEvent` in the result's
``splits``, so PaperTrade uses the exact ratio; "Dividends" is ignored), ``group_by="column"``
(MultiIndex columns (field, ticker); (ticker, field) and flat single-ticker frames are handled too),
``multi_level_index=True``, ``ignore_tz=True``, ``progress=False``, ``threads=False``, ``repair=False``.

Rate limiting (``yfinance.exceptions.YFRateLimitError``, or any error carrying HTTP status 429) is
retried with exponential backoff and jitter (``sleep`` and ``rng`` injectable); still limited after
``max_attempts`` calls, :class:`~tradebot.errors.RetryableError` is raised so the state machine's Retry
takes over. A network-level failure (an ``OSError`` from the transport: DNS failure, connection reset or
refused, timeout, TLS error, or an HTTP 5xx) is retried the same way and, still failing after
``max_attempts`` calls, also raises RetryableError: an outage is never reported as "no data". Any other
error marks only that batch's symbols as failed (code ``download_failed``, with the reason) and the run
goes on.

``yfinance.download`` itself never raises a per-ticker error: it catches it (yfinance 1.x even turns a
DNS failure into "possibly delisted; no timezone found") and returns an empty column. So
:func:`yfinance_download` tells the two apart itself:

* it hands yfinance a session (yfinance's own ``new_session()``) whose ``request`` records every
  exception the transport raised and every 5xx answer, by the ticker of the Yahoo chart URL it was
  fetching; a ticker left without data after such a failure is a network failure, not "no data";
* it watches the "yfinance" logger during the call: a logged ``YFRateLimitError`` is raised again, a
  ticker whose logged error is a network exception's repr (``ConnectionError(...)``, ``ReadTimeout(...)``:
  by class name, as yfinance's own ``_is_transient_error`` does; older yfinance versions let those through
  to the log) is a network failure too, and every other logged reason is kept per ticker
  (``frame.attrs["yfinance_errors"]``) so a symbol without data is reported with yfinance's reason.

Network failures raise :class:`YahooNetworkError` (a ``ConnectionError``), which the retry loop above
handles. Duplicate dates in Yahoo's answer follow :func:`tradebot.data.bars.dedupe_dates` (identical or
empty copies dropped with a warning; conflicting copies: the symbol is skipped, ``duplicate_dates``).
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd

from tradebot.clock import Sleep
from tradebot.contracts import SplitEvent
from tradebot.data import DUPLICATE_DATES, LoadResult
from tradebot.data.bars import (
    BAR_COLUMNS,
    PRICE_COLUMNS,
    BarsNote,
    DuplicateDatesError,
    normalize_bars,
    slice_bars,
)
from tradebot.errors import RetryableError

DownloadFn = Callable[..., pd.DataFrame | None]

DEFAULT_CACHE_DIR = os.path.join(tempfile.gettempdir(), "tradebot-yfinance-cache")
ERRORS_ATTR = "yfinance_errors"
_FIELDS = frozenset((*BAR_COLUMNS, "Dividends", "Stock Splits", "Capital Gains", "Repaired?"))
DOWNLOAD_FAILED = "download_failed"
# Class names of transport exceptions (requests, curl_cffi, urllib3, the standard library): a logged
# "Name(...)" with one of these is a network failure. yfinance's _is_transient_error uses the same idea.
NETWORK_ERROR_NAMES = frozenset(
    {
        "ConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "Timeout",
        "TimeoutError",
        "DNSError",
        "gaierror",
        "SSLError",
        "ProxyError",
        "ChunkedEncodingError",
        "IncompleteRead",
        "RemoteDisconnected",
        "ProtocolError",
        "ConnectionResetError",
        "ConnectionRefusedError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "CurlError",
        "NewConnectionError",
        "MaxRetryError",
    }
)
_tz_cache_dir: str | None = None


def configure_yfinance_cache(cache_dir: str | None = None) -> str:
    """Point yfinance's timezone/cookie cache at a writable directory (once per process; Lambda has only
    /tmp). Later calls with another directory are ignored. Returns the directory in use."""
    global _tz_cache_dir
    if _tz_cache_dir is None:
        import yfinance

        directory = cache_dir or DEFAULT_CACHE_DIR
        os.makedirs(directory, exist_ok=True)
        yfinance.set_tz_cache_location(directory)
        _tz_cache_dir = directory
    return _tz_cache_dir


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a malformed third-party record must not break the download
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def _capture_yfinance_errors() -> Iterator[_Capture]:
    """Collect the ERROR records of the "yfinance" logger during the block. If that logger is configured
    quieter than ERROR, it is opened for the block with only the capture attached (nothing leaks)."""
    logger = logging.getLogger("yfinance")
    capture = _Capture()
    quiet = not logger.isEnabledFor(logging.ERROR)
    saved = (logger.level, logger.propagate, logger.disabled, list(logger.handlers))
    if quiet:
        for handler in saved[3]:
            logger.removeHandler(handler)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        logger.disabled = False
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        if quiet:
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
            logger.disabled = saved[2]
            for handler in saved[3]:
                logger.addHandler(handler)


class YahooNetworkError(ConnectionError):
    """Yahoo could not be reached for some tickers (DNS, connection, timeout, TLS, HTTP 5xx)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        details = "; ".join(f"{t}: {r}" for t, r in sorted(self.failures.items()))
        super().__init__(f"network failure for {len(self.failures)} ticker(s): {details}")


class _Transport:
    """Records the transport-level failures of one download, by the ticker of the URL fetched."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}

    def record(self, url: object, problem: str) -> None:
        ticker = _ticker_of_url(str(url))
        if ticker:
            self.failures.setdefault(ticker, problem)

    def wrap(self, session: Any) -> Any:
        """``session`` with its ``request`` recording what it raised or a 5xx status."""
        original = session.request

        def request(*args: Any, **kwargs: Any) -> Any:
            url = kwargs.get("url", args[1] if len(args) > 1 else "")
            try:
                response = original(*args, **kwargs)
            except Exception as exc:
                if is_transient(exc) and not isinstance(exc, ValueError):
                    self.record(url, f"{type(exc).__name__}: {exc}")
                raise
            status = getattr(response, "status_code", None)
            if isinstance(status, int) and status >= 500:
                self.record(url, f"HTTP {status}")
            return response

        session.request = request
        return session


def _ticker_of_url(url: str) -> str:
    """``https://query2.finance.yahoo.com/v8/finance/chart/BRK-B?...`` -> ``"BRK-B"`` ("" if none)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url).path.rstrip("/").split("/")
    for marker in ("chart", "quoteSummary"):
        if marker in parts[:-1]:
            return unquote(parts[parts.index(marker) + 1]).upper()
    return ""


def is_network_reason(reason: str) -> bool:
    """True for a yfinance-logged reason that is a network exception's repr, e.g.
    ``"ConnectionError('connection reset by peer')"`` (by class name, never by message)."""
    name = reason.strip().split("(", 1)[0].rsplit(".", 1)[-1].strip()
    return name in NETWORK_ERROR_NAMES


def _new_session() -> Any | None:
    """yfinance's own default session (curl_cffi with browser impersonation, or its requests fallback);
    None if this yfinance has no ``_http.new_session`` (then only the logged reasons are read)."""
    try:
        from yfinance._http import new_session
    except ImportError:  # pragma: no cover - yfinance < 1.x
        return None
    return new_session()


def yfinance_download(tickers: list[str], **kwargs: Any) -> pd.DataFrame | None:
    """``yfinance.download`` that raises ``YFRateLimitError`` when yfinance swallowed one for a ticker, and
    :class:`YahooNetworkError` when a ticker has no data because Yahoo could not be reached."""
    import yfinance
    from yfinance.exceptions import YFRateLimitError

    transport = _Transport()
    session = _new_session() if "session" not in kwargs else None
    if session is not None:
        kwargs = {**kwargs, "session": transport.wrap(session)}
    with _capture_yfinance_errors() as capture, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # yfinance 1.7 uses APIs pandas 3.1 deprecates
        data = yfinance.download(tickers, **kwargs)
    if any("YFRateLimitError" in m or "Too Many Requests" in m for m in capture.messages):
        raise YFRateLimitError()
    reasons = ticker_errors(capture.messages)
    empty = {t.upper() for t in tickers if extract_symbol(data, t, single=len(tickers) == 1)[0] is None}
    network = {t: r for t, r in transport.failures.items() if t in empty}
    network.update({t: r for t, r in reasons.items() if t in empty and is_network_reason(r)})
    if network:
        raise YahooNetworkError(network)
    if data is not None:
        data.attrs[ERRORS_ATTR] = reasons
    return data


def ticker_errors(messages: Sequence[str]) -> dict[str, str]:
    """Ticker -> reason from yfinance.download's error log lines (``"['AAA', 'BBB']: <reason>"``)."""
    out: dict[str, str] = {}
    for message in messages:
        head, sep, reason = message.strip().partition("]: ")
        if not sep or not head.startswith("["):
            continue
        try:
            tickers = ast.literal_eval(head + "]")
        except (ValueError, SyntaxError):
            continue
        if isinstance(tickers, list):
            for ticker in tickers:
                out[str(ticker).upper()] = reason.strip()
    return out


def pause(seconds: float) -> None:
    """The backoff sleep of a source built without ``sleep=`` (what ``source_from_spec`` builds). Tests of
    the whole pipeline replace this module attribute; everything else passes ``sleep=``."""
    time.sleep(seconds)


def is_rate_limit(exc: BaseException) -> bool:
    """True for yfinance's YFRateLimitError or an HTTP error with status 429 (requests / curl_cffi),
    looking through the exception's cause chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "YFRateLimitError" and _is_yf_rate_limit(current):
            return True
        response = getattr(current, "response", None)
        for status in (getattr(response, "status_code", None), getattr(current, "status_code", None)):
            if status == 429:
                return True
        current = current.__cause__ or current.__context__
    return False


def _is_yf_rate_limit(exc: BaseException) -> bool:
    from yfinance.exceptions import YFRateLimitError

    return isinstance(exc, YFRateLimitError)


def is_transient(exc: BaseException) -> bool:
    """A network failure worth retrying: an OSError (requests' and curl_cffi's errors are OSErrors,
    as are timeouts and resets) without an HTTP status, or with a 5xx status."""
    if not isinstance(exc, OSError):
        return False
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status_code", None)
    return not isinstance(status, int) or status >= 500


class YFinanceSource:
    """Yahoo Finance daily bars (real market data: ``synthetic = False``)."""

    name = "yfinance"
    synthetic = False
    live = True

    def __init__(
        self,
        *,
        download: DownloadFn | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        cache_dir: str | None = None,
        batch_size: int = 50,
        max_attempts: int = 4,
        base_delay: float = 2.0,
        max_delay: float = 30.0,
        timeout: float = 30.0,
    ) -> None:
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be >= 1")
        self._download = download
        self._sleep = sleep  # None: the module's pause(), looked up at each call
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._cache_dir = cache_dir
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout

    def default_symbols(self) -> list[str] | None:
        return None

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): exponential, capped, "equal jitter"."""
        cap = float(min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1)))
        return cap / 2 + self._rng.uniform(0, cap / 2)

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        unique = list(dict.fromkeys(symbols))
        if not unique:
            return result
        download = self._download
        if download is None:
            configure_yfinance_cache(self._cache_dir)
            download = yfinance_download
        kwargs: dict[str, Any] = {
            "end": (end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive, ours inclusive
            "interval": "1d",
            "auto_adjust": False,
            "actions": True,
            "group_by": "column",
            "multi_level_index": True,
            "ignore_tz": True,
            "repair": False,
            "keepna": False,
            "progress": False,
            "threads": False,
            "timeout": self.timeout,
        }
        if start is None:
            kwargs["period"] = "max"  # with only `end`, yfinance would fetch one month
        else:
            kwargs["start"] = start.isoformat()
        for i in range(0, len(unique), self.batch_size):
            batch = unique[i : i + self.batch_size]
            try:
                data = self._download_batch(download, batch, kwargs)
            except RetryableError:
                raise
            except Exception as exc:
                for symbol in batch:
                    result.fail(symbol, f"download failed: {type(exc).__name__}: {exc}", DOWNLOAD_FAILED)
                continue
            _collect(result, data, batch, start, end)
        return result

    def _download_batch(
        self, download: DownloadFn, batch: list[str], kwargs: dict[str, Any]
    ) -> pd.DataFrame | None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return download(list(batch), **kwargs)
            except Exception as exc:
                limited = is_rate_limit(exc)
                if not limited and not is_transient(exc):
                    raise
                if attempt == self.max_attempts:
                    what = "rate limited" if limited else f"network failure ({type(exc).__name__}: {exc})"
                    raise RetryableError(
                        f"yfinance {what} after {attempt} attempts (symbols {batch[0]}..{batch[-1]})"
                    ) from exc
                (self._sleep or pause)(self.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


def _collect(
    result: LoadResult, data: pd.DataFrame | None, batch: list[str], start: date | None, end: date
) -> None:
    """Each symbol of a downloaded batch into ``result``: its bars, or why it has none."""
    reasons = data.attrs.get(ERRORS_ATTR, {}) if data is not None else {}
    for symbol in batch:
        notes: list[BarsNote] = []
        try:
            frame, problem = _extract(data, symbol, single=len(batch) == 1, notes=notes)
        except DuplicateDatesError as exc:
            result.fail(symbol, f"Yahoo's answer has {exc}", DUPLICATE_DATES)
            continue
        result.note(symbol, notes, "yfinance")
        if frame is None and problem == "no data" and symbol.upper() in reasons:
            problem = f"no data: {reasons[symbol.upper()]}"
        if frame is not None:
            frame = slice_bars(frame, start, end)
            if frame.empty:
                frame, problem = None, "no data in the requested range"
        if frame is None:
            result.fail(symbol, problem)
        else:
            result.frames[symbol] = frame
            result.splits += split_events(data, symbol, single=len(batch) == 1, start=start, end=end)


SPLITS_COLUMN = "Stock Splits"


def split_events(
    data: pd.DataFrame | None,
    symbol: str,
    *,
    single: bool,
    start: date | None = None,
    end: date | None = None,
) -> list[SplitEvent]:
    """The splits yfinance reported for ``symbol`` ("Stock Splits": the ratio, new shares per old share,
    on the ex-date; 0 on other days) within ``start..end``."""
    if data is None or data.empty:
        return []
    columns = data.columns
    splits: pd.Series | None = None
    if isinstance(columns, pd.MultiIndex) and columns.nlevels == 2:
        for key in columns:
            names = [str(k) for k in key]
            if SPLITS_COLUMN in names and any(n.upper() == symbol.upper() for n in names):
                splits = data[key]
                break
    elif single and SPLITS_COLUMN in columns:
        splits = data[SPLITS_COLUMN]
    if splits is None:
        return []
    values = pd.to_numeric(splits, errors="coerce")
    events = []
    for stamp, ratio in values.items():
        if not ratio > 0 or ratio == 1:  # 0: no split that day (NaN fails the test too)
            continue
        day = pd.Timestamp(stamp).date()  # type: ignore[arg-type]
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        events.append(SplitEvent(symbol=symbol, ex_date=day, ratio=float(ratio)))
    return events


def extract_symbol(
    data: pd.DataFrame | None, symbol: str, *, single: bool
) -> tuple[pd.DataFrame | None, str]:
    """One symbol's bars out of a yfinance.download result, or (None, reason)."""
    try:
        return _extract(data, symbol, single=single, notes=None)
    except DuplicateDatesError as exc:
        return None, f"no data: {exc}"


def _extract(
    data: pd.DataFrame | None, symbol: str, *, single: bool, notes: list[BarsNote] | None
) -> tuple[pd.DataFrame | None, str]:
    if data is None or data.empty:
        return None, "no data"
    columns = data.columns
    if isinstance(columns, pd.MultiIndex):
        field_level = next(
            (lvl for lvl in range(columns.nlevels) if set(columns.levels[lvl]) & _FIELDS), None
        )
        if field_level is None or columns.nlevels != 2:
            return None, "no data: unrecognized yfinance column layout"
        ticker_level = 1 - field_level
        tickers = columns.get_level_values(ticker_level)
        wanted = next((t for t in dict.fromkeys(tickers) if str(t).upper() == symbol.upper()), None)
        if wanted is None:
            return None, "no data"
        sub = data.xs(wanted, axis=1, level=ticker_level)
    elif single:
        sub = data
    else:
        return None, "no data: unrecognized yfinance column layout"
    sub = sub.loc[:, ~sub.columns.duplicated()]
    if "Close" not in sub.columns or sub["Close"].isna().all():
        return None, "no data"
    present = [c for c in PRICE_COLUMNS if c in sub.columns]
    sub = sub.dropna(how="all", subset=present)  # dates that exist only for other tickers of the batch
    try:
        return normalize_bars(sub, notes), ""
    except DuplicateDatesError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        return None, f"no data: {exc}"
