"""One run's bars: failure threshold, partial sessions refused, the quality report, the archive stats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.market_fakes import FakeSource, session_bars, write_csv_dir
from tests.unit.test_data_history import MemoryStore
from tradebot.calendar import get_calendar
from tradebot.data import default_as_of, source_from_spec
from tradebot.data.sample import SAMPLE_DEFAULT_AS_OF
from tradebot.data.universe import (
    check_failures,
    ensure_session_closed,
    expected_last_session,
    fetch_bars,
    save_archive,
)
from tradebot.errors import DataQualityError, InputValidationError, UnknownSymbolError

NY = ZoneInfo("America/New_York")
CAL = get_calendar()


def test_check_failures_threshold() -> None:
    symbols = ["A", "B", "C", "D"]
    check_failures(symbols, {"A": "no data", "B": "no data"}, explicit=False, max_failed_fraction=0.5)
    with pytest.raises(DataQualityError, match=r"3 of 4 symbols could not be loaded \(75% > .*A: no data"):
        check_failures(symbols, dict.fromkeys("ABC", "no data"), explicit=False, max_failed_fraction=0.5)
    # a fetch that failed although the archive had older bars counts too (an outage is not "all stale")
    with pytest.raises(DataQualityError):
        check_failures(
            symbols,
            {"A": "no data"},
            explicit=False,
            max_failed_fraction=0.5,
            fetch_failures={"B": "x", "C": "y"},
        )
    check_failures(symbols, dict.fromkeys("ABCD", "no data"), explicit=False, max_failed_fraction=1.0)


def test_every_explicit_symbol_failing_is_unknown_symbols() -> None:
    with pytest.raises(UnknownSymbolError, match="NOPE: unknown"):
        check_failures(["NOPE"], {"NOPE": "unknown"}, explicit=True, max_failed_fraction=1.0)
    # with the archive's bars still there it is not "unknown": the threshold decides
    check_failures(["A"], {}, explicit=True, max_failed_fraction=1.0, fetch_failures={"A": "x"})


@pytest.mark.parametrize(
    ("session", "before", "at"),
    [
        (
            date(2024, 11, 27),
            datetime(2024, 11, 27, 15, 59, tzinfo=NY),
            datetime(2024, 11, 27, 16, 0, tzinfo=NY),
        ),
        # the day after Thanksgiving closes at 13:00
        (
            date(2024, 11, 29),
            datetime(2024, 11, 29, 12, 59, tzinfo=NY),
            datetime(2024, 11, 29, 13, 0, tzinfo=NY),
        ),
        # first session after the switch to summer time: 16:00 New York is 20:00 UTC
        (
            date(2024, 3, 11),
            datetime(2024, 3, 11, 19, 59, tzinfo=UTC),
            datetime(2024, 3, 11, 20, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_session_that_has_not_closed_is_refused(session: date, before: datetime, at: datetime) -> None:
    with pytest.raises(InputValidationError, match="has not closed yet"):
        ensure_session_closed(CAL, session, before)
    ensure_session_closed(CAL, session, at)


def test_expected_last_session_and_default_as_of() -> None:
    assert expected_last_session(CAL, date(2024, 7, 5)) == date(2024, 7, 5)
    assert expected_last_session(CAL, date(2024, 7, 4)) == date(2024, 7, 3)
    assert expected_last_session(CAL, date(2024, 7, 7)) == date(2024, 7, 5)
    now = datetime(2024, 11, 29, 14, 0, tzinfo=NY)
    assert default_as_of(source_from_spec("sample"), CAL, now) == SAMPLE_DEFAULT_AS_OF
    assert default_as_of(FakeSource({}), CAL, now) == date(2024, 11, 29)  # an early close counts at 13:00
    assert default_as_of(FakeSource({}), CAL, datetime(2024, 11, 29, 12, 0, tzinfo=NY)) == date(2024, 11, 27)


def test_csv_data_ending_before_as_of_is_all_stale(tmp_path: Path) -> None:
    frames = {s: session_bars(date(2024, 4, 19), seed=i) for i, s in enumerate(["AAA", "BBB"])}
    source = source_from_spec(f"csv:{write_csv_dir(tmp_path, frames)}")
    fetched = fetch_bars(source, ["AAA", "BBB"], date(2024, 6, 3), CAL, run_id="r", start=date(2023, 1, 1))
    assert fetched.ok == {}
    assert [(i.symbol, i.reason) for i in fetched.report.skipped] == [("AAA", "stale"), ("BBB", "stale")]
    assert "last bar 2024-04-19" in fetched.report.skipped[0].detail
    assert fetched.report.expected_last_session == date(2024, 6, 3)
    assert fetched.report.fetch.archive is None and fetched.history is None


def test_live_source_goes_through_the_archive_and_reports() -> None:
    as_of = date(2024, 7, 5)
    frames = {s: session_bars(as_of, 100, seed=i) for i, s in enumerate(["AAA", "BBB", "CCC"])}
    frames["BBB"] = frames["BBB"].iloc[:-1]  # the provider has not published BBB's last bar
    source, archive = FakeSource(frames, fail={"CCC"}), MemoryStore()
    fetched = fetch_bars(source, ["AAA", "BBB", "CCC"], as_of, CAL, run_id="r1", start=None, archive=archive)
    assert archive.writes == []  # nothing is written by fetch_bars
    assert sorted(save_archive(archive, fetched, source.name)) == ["AAA", "BBB"]
    report = fetched.report
    assert report.ok == ["AAA"] and list(fetched.ok) == ["AAA"]
    assert {(i.symbol, i.reason) for i in report.skipped} == {("CCC", "no_data"), ("BBB", "stale")}
    assert report.fetch.requested == 3 and report.fetch.new_bars == 199 and report.fetch.source_calls == 1
    assert report.run_id == "r1" and report.source == "fake" and report.synthetic is False


def test_too_many_failures_raise_before_anything_is_written() -> None:
    frames = {"AAA": session_bars(date(2024, 7, 5))}
    source, archive = FakeSource(frames, fail={"AAA"}), MemoryStore()
    with pytest.raises(DataQualityError):
        fetch_bars(source, ["AAA", "ZZZ"], date(2024, 7, 5), CAL, run_id="r", start=None, archive=archive)
    assert archive.writes == []


def test_quality_rules_reach_the_report(tmp_path: Path) -> None:
    as_of = date(2024, 7, 5)
    nan_last = session_bars(as_of, 100, seed=1)
    nan_last.iloc[-1, nan_last.columns.get_loc("Close")] = float("nan")
    split = session_bars(as_of, 100, seed=2)
    split.loc[split.index >= pd.Timestamp("2024-06-20"), ["Open", "High", "Low", "Close", "Adj Close"]] /= 3
    gap = session_bars(as_of, 100, seed=3).drop(index=[pd.Timestamp("2024-05-01")])
    directory = write_csv_dir(tmp_path, {"NANLAST": nan_last, "SPLIT": split, "GAP": gap})
    source = source_from_spec(f"csv:{directory}")
    report = fetch_bars(source, ["NANLAST", "SPLIT", "GAP"], as_of, CAL, run_id="r", start=None).report
    assert [(i.symbol, i.reason) for i in report.skipped] == [("NANLAST", "nan")]
    assert report.ok == ["GAP", "SPLIT"]
    warnings = {(w.symbol, w.reason) for w in report.warnings}
    assert warnings == {("SPLIT", "possible_split"), ("GAP", "missing_sessions")}
