"""Data-quality gate between a source and the strategies: which symbols are safe to trade on ``as_of``.

:func:`check_bars` applies, per symbol and in this order (the first failing rule skips the symbol with a
:class:`~tradebot.contracts.SymbolIssue` whose ``reason`` is the code in brackets):

1. rows dated after ``as_of`` are dropped (never trade on future data); nothing left -> [no_data]
   (missing columns -> [error]; several different rows for one date -> [duplicate_dates], never resolved
   silently: empty or identical copies are dropped with a warning, ``empty_duplicate_dropped`` /
   ``identical_duplicate_dropped``);
2. NaN prices: if the last bar has one -> [nan]; otherwise the NaN rows are dropped (warning ``nan_dropped``);
3. any price <= 0 or negative volume -> [non_positive];
4. OHLC inconsistent: not ``Low <= min(Open, Close)`` and ``max(Open, Close) <= High`` (relative tolerance
   ``ohlc_tolerance`` for vendors' rounding) -> [bad_ohlc];
5. the last bar is older than the latest session on or before ``as_of`` (when ``as_of`` is a session the
   last bar must be dated ``as_of``) -> [stale], detail naming the last bar date;
6. fewer than ``min_bars`` bars -> [too_short].

Warnings never skip a symbol: ``possible_split`` (a close-to-close move above ``max_move``, default 40%,
often an unadjusted split), ``missing_sessions`` (calendar sessions absent between the first and last
bar), ``non_session_rows`` (bars dated on a day the exchange was closed), ``nan_dropped``, ``nan_volume``,
``adj_close_missing`` (the source has no Adj Close: an all-NaN column, see :mod:`tradebot.data.bars`; the
prices are checked without it and nothing that needs it, such as a total-return adjustment, can use it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from tradebot.calendar import TradingCalendar
from tradebot.contracts import SymbolIssue
from tradebot.data.bars import (
    BAR_COLUMNS,
    OHLC_COLUMNS,
    PRICE_COLUMNS,
    BarsNote,
    DuplicateDatesError,
    adj_close_missing,
    normalize_bars,
)

DEFAULT_MIN_BARS = 60
DEFAULT_MAX_MOVE = 0.40
DEFAULT_OHLC_TOLERANCE = 1e-6
_LIST_AT_MOST = 5


@dataclass
class QualityReport:
    ok: dict[str, pd.DataFrame] = field(default_factory=dict)  # cleaned bars, in the bars convention
    issues: list[SymbolIssue] = field(default_factory=list)  # one per skipped symbol
    warnings: list[SymbolIssue] = field(default_factory=list)  # kept symbols, worth a look


class _Skip(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _dates(index: pd.Index, limit: int = _LIST_AT_MOST) -> str:
    items = [pd.Timestamp(d).date().isoformat() for d in index[:limit]]
    more = len(index) - limit
    return ", ".join(items) + (f" (+{more} more)" if more > 0 else "")


def check_bars(
    frames: dict[str, pd.DataFrame],
    as_of: date,
    calendar: TradingCalendar,
    *,
    min_bars: int = DEFAULT_MIN_BARS,
    max_move: float = DEFAULT_MAX_MOVE,
    ohlc_tolerance: float = DEFAULT_OHLC_TOLERANCE,
) -> QualityReport:
    """Split ``frames`` into tradable bars (``ok``) and skipped symbols (``issues``), with ``warnings``."""
    report = QualityReport()
    expected_last = as_of if calendar.is_session(as_of) else calendar.previous_session(as_of)
    for symbol, frame in frames.items():
        warnings: list[SymbolIssue] = []
        try:
            bars = _check_one(symbol, frame, as_of, expected_last, min_bars, ohlc_tolerance, warnings)
        except _Skip as skip:
            report.issues.append(SymbolIssue(symbol=symbol, reason=skip.reason, detail=skip.detail))
            continue
        warnings.extend(_warnings(symbol, bars, calendar, max_move))
        report.ok[symbol] = bars
        report.warnings.extend(warnings)
    return report


def _normalized(symbol: str, frame: pd.DataFrame, warnings: list[SymbolIssue]) -> pd.DataFrame:
    notes: list[BarsNote] = []
    try:
        bars = normalize_bars(frame, notes)
    except DuplicateDatesError as exc:
        raise _Skip("duplicate_dates", str(exc)) from None
    except KeyError as exc:
        raise _Skip("error", str(exc.args[0])) from None
    except (ValueError, TypeError) as exc:
        raise _Skip("error", f"unusable values: {exc}") from None
    warnings.extend(SymbolIssue(symbol=symbol, reason=n.reason, detail=n.detail) for n in notes)
    return bars


def _check_one(
    symbol: str,
    frame: pd.DataFrame | None,
    as_of: date,
    expected_last: date,
    min_bars: int,
    tolerance: float,
    warnings: list[SymbolIssue],
) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        raise _Skip("no_data", "no bars")
    bars = _normalized(symbol, frame, warnings)
    bars = bars.loc[bars.index <= pd.Timestamp(as_of)]
    if bars.empty:
        raise _Skip("no_data", f"no bars on or before {as_of}")

    columns = PRICE_COLUMNS
    if adj_close_missing(bars):
        columns = OHLC_COLUMNS
        warnings.append(
            SymbolIssue(
                symbol=symbol,
                reason="adj_close_missing",
                detail="no Adj Close in the data (kept as missing, never copied from Close): a total-return "
                "adjustment cannot be used",
            )
        )
    prices = bars[list(columns)]
    nan_rows = prices.isna().any(axis=1)
    if nan_rows.iloc[-1]:
        raise _Skip("nan", f"the last bar ({_dates(bars.index[-1:])}) has a NaN price")
    if nan_rows.any():
        warnings.append(
            SymbolIssue(
                symbol=symbol,
                reason="nan_dropped",
                detail=f"dropped {int(nan_rows.sum())} bar(s) with NaN: {_dates(bars.index[nan_rows])}",
            )
        )
        bars = bars.loc[~nan_rows]
        prices = prices.loc[~nan_rows]
    if bars["Volume"].isna().any():
        n = int(bars["Volume"].isna().sum())
        warnings.append(SymbolIssue(symbol=symbol, reason="nan_volume", detail=f"{n} bar(s) without volume"))

    bad = (prices <= 0).any(axis=1) | (bars["Volume"] < 0)
    if bad.any():
        raise _Skip("non_positive", f"{int(bad.sum())} bar(s) with a price <= 0: {_dates(bars.index[bad])}")

    slack = 1.0 + tolerance
    low, high = prices["Low"], prices["High"]
    lo_body = np.minimum(prices["Open"], prices["Close"])
    hi_body = np.maximum(prices["Open"], prices["Close"])
    bad = (low > lo_body * slack) | (hi_body > high * slack) | (low > high * slack)
    if bad.any():
        raise _Skip(
            "bad_ohlc",
            f"{int(bad.sum())} bar(s) without Low <= Open, Close <= High: {_dates(bars.index[bad])}",
        )

    last = bars.index[-1].date()
    if last < expected_last:
        raise _Skip("stale", f"last bar {last}, expected {expected_last} for as_of {as_of}")
    if len(bars) < min_bars:
        raise _Skip("too_short", f"{len(bars)} bars, at least {min_bars} needed")
    return bars[list(BAR_COLUMNS)]


def _warnings(
    symbol: str, bars: pd.DataFrame, calendar: TradingCalendar, max_move: float
) -> list[SymbolIssue]:
    out: list[SymbolIssue] = []
    close = bars["Close"]
    move = (close / close.shift(1) - 1.0).abs()
    jumps = move > max_move
    if jumps.any():
        out.append(
            SymbolIssue(
                symbol=symbol,
                reason="possible_split",
                detail=f"close moved more than {max_move:.0%} in one bar on {_dates(bars.index[jumps])}"
                " (unadjusted split?)",
            )
        )
    first = max(bars.index[0].date(), calendar.start)
    last = min(bars.index[-1].date(), calendar.end)
    if first <= last:
        expected = pd.DatetimeIndex(pd.to_datetime(calendar.sessions(first, last))).as_unit("us")
        window = bars.index[(bars.index >= pd.Timestamp(first)) & (bars.index <= pd.Timestamp(last))]
        missing = expected.difference(window)
        if len(missing):
            out.append(
                SymbolIssue(
                    symbol=symbol,
                    reason="missing_sessions",
                    detail=f"{len(missing)} session(s) without a bar: {_dates(missing)}",
                )
            )
        extra = window.difference(expected)
        if len(extra):
            out.append(
                SymbolIssue(
                    symbol=symbol,
                    reason="non_session_rows",
                    detail=f"{len(extra)} bar(s) on days the exchange was closed: {_dates(extra)}",
                )
            )
    return out
