"""The NYSE trading calendar (sessions, early closes), from ``exchange_calendars`` ("XNYS").

The calendar is built once per process (:func:`get_calendar`) over a fixed window: from
``CALENDAR_START`` (2000-01-01) to 31 December two years after the current year (``exchange_calendars``
derives future sessions from its holiday rules; a holiday announced later, such as a national day of
mourning, needs a newer ``exchange_calendars``). A query outside that window raises
:class:`~tradebot.errors.InputValidationError` rather than guessing.

All dates are exchange-local session labels (``datetime.date``); closes are timezone-aware.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd

from tradebot.errors import InputValidationError

CALENDAR_NAME = "XNYS"
CALENDAR_START = date(2000, 1, 1)
CALENDAR_YEARS_AHEAD = 2


def default_calendar_end(today: date | None = None) -> date:
    """31 December, ``CALENDAR_YEARS_AHEAD`` years after ``today``'s year."""
    today = today or datetime.now(UTC).date()
    return date(today.year + CALENDAR_YEARS_AHEAD, 12, 31)


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a tz-aware series, as int64."""
    naive: np.ndarray = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[ns]").astype(np.int64)


def _day(d: date) -> np.datetime64:
    if isinstance(d, datetime):  # a datetime is a date too: use its calendar day, not its time
        d = d.date()
    return np.datetime64(d, "D")


class TradingCalendar:
    """NYSE sessions between ``start`` and ``end`` (inclusive), with each session's open and close."""

    def __init__(self, start: date = CALENDAR_START, end: date | None = None) -> None:
        import exchange_calendars as xcals  # heavy import, done once per process

        self.start = start
        self.end = end or default_calendar_end()
        if self.end <= self.start:
            raise ValueError(f"calendar end {self.end} must be after start {self.start}")
        with warnings.catch_warnings():  # exchange_calendars 4.13 uses APIs that pandas 3.1 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            cal = xcals.get_calendar(CALENDAR_NAME, start=self.start.isoformat(), end=self.end.isoformat())
        self._sessions: np.ndarray = cal.sessions.to_numpy().astype("datetime64[D]")
        self._opens_ns: np.ndarray = _utc_ns(cal.opens)
        self._closes_ns: np.ndarray = _utc_ns(cal.closes)

    # --- helpers -------------------------------------------------------------------------------------

    def _check(self, d: date) -> np.datetime64:
        day = _day(d)
        if not (_day(self.start) <= day <= _day(self.end)):
            raise InputValidationError(
                f"date {d} is outside the trading calendar's range {self.start}..{self.end} "
                "(tradebot.calendar builds 2000-01-01 .. 31 Dec of the year after next)"
            )
        return day

    def _index(self, d: date) -> int:
        """Position of session ``d`` in the session array, or raise if ``d`` is not a session."""
        day = self._check(d)
        i = int(np.searchsorted(self._sessions, day))
        if i >= len(self._sessions) or self._sessions[i] != day:
            raise InputValidationError(f"{d} is not an NYSE session")
        return i

    def _date(self, i: int) -> date:
        return self._sessions[i].astype(object)  # type: ignore[no-any-return]

    # --- the API -------------------------------------------------------------------------------------

    @property
    def first_session(self) -> date:
        return self._date(0)

    @property
    def last_session(self) -> date:
        return self._date(len(self._sessions) - 1)

    def is_session(self, d: date) -> bool:
        day = self._check(d)
        i = int(np.searchsorted(self._sessions, day))
        return i < len(self._sessions) and bool(self._sessions[i] == day)

    def next_session(self, d: date) -> date:
        """The first session strictly after ``d``."""
        i = int(np.searchsorted(self._sessions, self._check(d), side="right"))
        if i >= len(self._sessions):
            raise InputValidationError(f"no session after {d} within the calendar's range (to {self.end})")
        return self._date(i)

    def previous_session(self, d: date) -> date:
        """The last session strictly before ``d``."""
        i = int(np.searchsorted(self._sessions, self._check(d), side="left")) - 1
        if i < 0:
            raise InputValidationError(
                f"no session before {d} within the calendar's range (from {self.start})"
            )
        return self._date(i)

    def sessions(self, start: date, end: date) -> list[date]:
        """Sessions with ``start <= session <= end`` (empty when start > end)."""
        lo = int(np.searchsorted(self._sessions, self._check(start), side="left"))
        hi = int(np.searchsorted(self._sessions, self._check(end), side="right"))
        return [d.astype(object) for d in self._sessions[lo:hi]]

    def session_open(self, d: date) -> datetime:
        """The session's open, timezone-aware (UTC)."""
        return _utc(self._opens_ns[self._index(d)])

    def session_close(self, d: date) -> datetime:
        """The session's close (13:00 New York on an early close), timezone-aware (UTC)."""
        return _utc(self._closes_ns[self._index(d)])

    def latest_completed_session(self, now: datetime) -> date:
        """The last session whose close is at or before ``now`` (which must be timezone-aware)."""
        if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
            raise InputValidationError("latest_completed_session needs a timezone-aware datetime")
        self._check(now.astimezone(UTC).date())
        now_ns = ((now - _EPOCH) // _MICROSECOND) * 1000  # exact: datetime has microsecond resolution
        i = int(np.searchsorted(self._closes_ns, now_ns, side="right")) - 1
        if i < 0:
            raise InputValidationError(f"no session closed before {now.isoformat()} in the calendar's range")
        return self._date(i)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _utc(ns: np.int64) -> datetime:
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


@cache
def get_calendar() -> TradingCalendar:
    """The process-wide NYSE calendar (built on first use, ~0.1 s after exchange_calendars' import)."""
    return TradingCalendar()
