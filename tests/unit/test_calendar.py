"""NYSE calendar: holidays, weekends, neighbours, early closes and DST, from exchange_calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from tradebot.calendar import CALENDAR_START, TradingCalendar, default_calendar_end, get_calendar
from tradebot.data import default_as_of
from tradebot.errors import InputValidationError

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return get_calendar()


def test_singleton_and_range(cal: TradingCalendar) -> None:
    assert get_calendar() is cal
    assert cal.start == CALENDAR_START == date(2000, 1, 1)
    assert cal.first_session == date(2000, 1, 3)
    assert cal.end == default_calendar_end() >= datetime.now(UTC).date() + timedelta(days=2 * 365)
    assert cal.end.year == datetime.now(UTC).year + 2
    assert default_calendar_end(date(2024, 6, 1)) == date(2026, 12, 31)


def test_independence_day_2024(cal: TradingCalendar) -> None:
    assert not cal.is_session(date(2024, 7, 4))
    assert cal.is_session(date(2024, 7, 5))
    assert cal.is_session(date(2024, 7, 3))


@pytest.mark.parametrize("d", [date(2024, 7, 6), date(2024, 7, 7), date(2025, 12, 27)])
def test_weekends_are_not_sessions(cal: TradingCalendar, d: date) -> None:
    assert not cal.is_session(d)


@pytest.mark.parametrize(
    "d",
    [date(2025, 1, 9), date(2018, 12, 5), date(2012, 10, 29), date(2001, 9, 11), date(2024, 12, 25)],
    ids=["carter-mourning", "bush-mourning", "hurricane-sandy", "sept-11", "christmas"],
)
def test_special_closures_come_from_exchange_calendars(cal: TradingCalendar, d: date) -> None:
    assert not cal.is_session(d)


def test_next_and_previous_are_strict(cal: TradingCalendar) -> None:
    assert cal.next_session(date(2024, 7, 3)) == date(2024, 7, 5)
    assert cal.previous_session(date(2024, 7, 5)) == date(2024, 7, 3)
    assert cal.next_session(date(2024, 7, 5)) == date(2024, 7, 8)  # Friday -> Monday
    assert cal.previous_session(date(2024, 7, 8)) == date(2024, 7, 5)
    assert cal.next_session(date(2024, 7, 6)) == date(2024, 7, 8)  # from a Saturday
    assert cal.previous_session(date(2024, 7, 4)) == date(2024, 7, 3)  # from a holiday
    assert cal.next_session(date(2024, 12, 31)) == date(2025, 1, 2)


def test_sessions_inclusive(cal: TradingCalendar) -> None:
    assert cal.sessions(date(2024, 7, 1), date(2024, 7, 8)) == [
        date(2024, 7, 1),
        date(2024, 7, 2),
        date(2024, 7, 3),
        date(2024, 7, 5),
        date(2024, 7, 8),
    ]
    assert cal.sessions(date(2024, 7, 4), date(2024, 7, 4)) == []
    assert cal.sessions(date(2024, 7, 8), date(2024, 7, 1)) == []
    assert len(cal.sessions(date(2024, 1, 1), date(2024, 12, 31))) == 252
    assert all(type(d) is date for d in cal.sessions(date(2024, 1, 1), date(2024, 1, 31)))


def test_early_close_day_after_thanksgiving(cal: TradingCalendar) -> None:
    assert not cal.is_session(date(2024, 11, 28))
    assert cal.session_close(date(2024, 11, 29)) == datetime(2024, 11, 29, 13, 0, tzinfo=NY)
    before = datetime(2024, 11, 29, 12, 59, 59, 999999, tzinfo=NY)
    assert cal.latest_completed_session(before) == date(2024, 11, 27)
    assert cal.latest_completed_session(datetime(2024, 11, 29, 13, 0, tzinfo=NY)) == date(2024, 11, 29)
    assert cal.latest_completed_session(datetime(2024, 11, 29, 18, 0, 1, tzinfo=UTC)) == date(2024, 11, 29)


def test_regular_close_and_weekend(cal: TradingCalendar) -> None:
    assert cal.session_open(date(2024, 11, 27)) == datetime(2024, 11, 27, 9, 30, tzinfo=NY)
    assert cal.latest_completed_session(datetime(2024, 11, 27, 15, 59, tzinfo=NY)) == date(2024, 11, 26)
    assert cal.latest_completed_session(datetime(2024, 11, 27, 16, 0, tzinfo=NY)) == date(2024, 11, 27)
    assert cal.latest_completed_session(datetime(2024, 11, 30, 10, 0, tzinfo=NY)) == date(2024, 11, 29)
    assert cal.latest_completed_session(datetime(2024, 12, 2, 9, 0, tzinfo=NY)) == date(2024, 11, 29)


def test_dst_change_week(cal: TradingCalendar) -> None:
    # Clocks went forward on Sunday 2024-03-10: the 16:00 close moves from 21:00 UTC to 20:00 UTC.
    assert cal.session_close(date(2024, 3, 8)) == datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
    assert cal.session_close(date(2024, 3, 11)) == datetime(2024, 3, 11, 20, 0, tzinfo=UTC)
    assert cal.sessions(date(2024, 3, 8), date(2024, 3, 15)) == [
        date(2024, 3, 8),
        *(date(2024, 3, d) for d in range(11, 16)),
    ]
    assert cal.latest_completed_session(datetime(2024, 3, 11, 19, 59, tzinfo=UTC)) == date(2024, 3, 8)
    assert cal.latest_completed_session(datetime(2024, 3, 11, 20, 0, tzinfo=UTC)) == date(2024, 3, 11)
    # ... and back on 2024-11-03.
    assert cal.session_close(date(2024, 11, 1)) == datetime(2024, 11, 1, 20, 0, tzinfo=UTC)
    assert cal.session_close(date(2024, 11, 4)) == datetime(2024, 11, 4, 21, 0, tzinfo=UTC)
    assert cal.latest_completed_session(datetime(2024, 11, 4, 20, 30, tzinfo=UTC)) == date(2024, 11, 1)


def test_bad_queries_raise(cal: TradingCalendar) -> None:
    with pytest.raises(InputValidationError, match="timezone-aware"):
        cal.latest_completed_session(datetime(2024, 11, 29, 13, 0))
    with pytest.raises(InputValidationError, match="outside"):
        cal.is_session(date(1999, 12, 31))
    with pytest.raises(InputValidationError, match="outside"):
        cal.next_session(cal.end + timedelta(days=1))
    with pytest.raises(InputValidationError, match="no session before"):
        cal.previous_session(date(2000, 1, 3))
    with pytest.raises(InputValidationError, match="not an NYSE session"):
        cal.session_close(date(2024, 7, 4))


def test_explicit_range() -> None:
    small = TradingCalendar(date(2024, 1, 1), date(2024, 12, 31))
    assert small.first_session == date(2024, 1, 2)
    assert small.last_session == date(2024, 12, 31)
    with pytest.raises(InputValidationError):
        small.is_session(date(2025, 1, 2))


# --- the schedule (template.yaml) against the calendar ---------------------------------------------------


def _schedule() -> dict:
    from tradebot_local.cfn import load_template
    from tradebot_local.provision import TEMPLATE

    template = load_template(TEMPLATE)
    (schedule,) = [
        event["Properties"]
        for resource in template["Resources"].values()
        for event in resource.get("Properties", {}).get("Events", {}).values()
        if event.get("Type") == "ScheduleV2"
    ]
    return schedule


def test_schedule_is_weekdays_after_the_close_in_new_york_time(cal: TradingCalendar) -> None:
    schedule = _schedule()
    assert schedule["ScheduleExpression"] == "cron(30 16 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedule["Input"] == "{}"  # the run decides on the latest completed session
    # Every weekday of three years, winter and summer time, early closes included: the 16:30 New York
    # firing comes at least 30 minutes after the session's close and the run decides on that session;
    # on a holiday it decides on that (closed) day, which FetchMarketData reports as market closed.
    live = SimpleNamespace(name="yfinance", synthetic=False, live=True)
    day, holidays = date(2024, 1, 1), 0
    while day <= date(2026, 12, 31):
        if day.weekday() < 5:
            fires = datetime(day.year, day.month, day.day, 16, 30, tzinfo=NY)
            assert default_as_of(live, cal, fires) == day
            if cal.is_session(day):
                assert cal.session_close(day) <= fires - timedelta(minutes=30)
            else:
                holidays += 1
        day += timedelta(days=1)
    assert holidays == 10 + 11 + 10  # weekday closures: 2024, 2025 (with the Carter day of mourning), 2026


def test_default_as_of_outside_the_schedule(cal: TradingCalendar) -> None:
    live = SimpleNamespace(name="yfinance", synthetic=False, live=True)
    # Saturday: closed today -> the run reports the market closed
    assert default_as_of(live, cal, datetime(2024, 7, 6, 10, tzinfo=NY)) == date(2024, 7, 6)
    # a session day before the close: the previous session (its bars are final)
    assert default_as_of(live, cal, datetime(2024, 7, 5, 11, tzinfo=NY)) == date(2024, 7, 3)
    # late evening in New York is already the next day in UTC: still that New York day
    assert default_as_of(live, cal, datetime(2024, 7, 6, 2, tzinfo=UTC)) == date(2024, 7, 5)
