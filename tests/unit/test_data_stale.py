"""Issue 10 §3 (stale half): a symbol whose data exists but ends before the run's lookback window is
skipped as `stale` with its last bar's date, never as no_data/unknown, and never counts as a load
failure: an explicit request for only such symbols is "nothing to trade". Every source kind. The SPY
rows are REAL (tests/fixtures/SPY.csv, cut to end in 2019); the archive's bars are synthetic."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.market_fakes import FakeSource, session_bars, spy_until, write_spy
from tests.unit.test_data_history import MemoryStore
from tradebot.calendar import get_calendar
from tradebot.data import source_from_spec
from tradebot.data.csv_source import CsvSource
from tradebot.data.universe import check_failures, fetch_bars
from tradebot.errors import DataQualityError, UnknownSymbolError

CAL = get_calendar()
AS_OF = date(2024, 4, 18)
START = AS_OF - timedelta(days=3 * 365)  # the pipeline's lookback (pipeline.fetch.LOOKBACK_DAYS)


def test_a_csv_that_stops_in_2019_is_stale_with_its_last_bar(tmp_path: Path) -> None:
    directory = write_spy(tmp_path, spy_until("2019-12-31"))
    loaded = CsvSource(directory).load(["SPY"], START, AS_OF)
    assert loaded.frames == {} and loaded.code("SPY") == "stale"
    assert loaded.failures["SPY"].startswith("last bar 2019-12-31: SPY.csv ends before the requested range")
    fetched = fetch_bars(CsvSource(directory), ["SPY"], AS_OF, CAL, run_id="r", start=START, explicit=True)
    assert fetched.ok == {} and fetched.report.ok == []
    (issue,) = fetched.report.skipped
    assert (issue.symbol, issue.reason) == ("SPY", "stale")
    assert "last bar 2019-12-31" in issue.detail and f"expected a bar on {AS_OF}" in issue.detail


def test_stale_and_unknown_together(tmp_path: Path) -> None:
    directory = write_spy(tmp_path, spy_until("2019-12-31"))
    write_spy(directory, spy_until("2024-04-18"), name="QQQ.csv")  # (SPY's rows, filed as QQQ)
    fetched = fetch_bars(
        CsvSource(directory), ["SPY", "QQQ", "NOPE"], AS_OF, CAL, run_id="r", start=START, explicit=True
    )
    assert fetched.report.ok == ["QQQ"]
    assert [(i.symbol, i.reason) for i in fetched.report.skipped] == [("NOPE", "no_data"), ("SPY", "stale")]
    with pytest.raises(UnknownSymbolError):  # a symbol with no data at all is still unknown
        fetch_bars(CsvSource(directory), ["NOPE"], AS_OF, CAL, run_id="r", start=START, explicit=True)


def test_stale_symbols_never_count_as_load_failures() -> None:
    codes = {"AAA": "stale", "BBB": "stale", "CCC": "duplicate_dates"}
    failures = {s: "..." for s in codes}
    check_failures(["AAA", "BBB", "CCC"], failures, explicit=True, max_failed_fraction=0.0, codes=codes)
    with pytest.raises(DataQualityError):  # without the codes they would (the old rule)
        check_failures(["AAA", "BBB", "CCC", "DDD"], failures, explicit=True, max_failed_fraction=0.5)


def test_the_sample_ending_before_the_window_is_stale() -> None:
    as_of = date(2028, 12, 1)  # SYNTHETIC sample data ends 2025-12-31
    start = as_of - timedelta(days=3 * 365)
    fetched = fetch_bars(
        source_from_spec("sample"), ["SYN-A"], as_of, CAL, run_id="r", start=start, explicit=True
    )
    (issue,) = fetched.report.skipped
    assert (issue.reason, fetched.ok) == ("stale", {}) and "last bar 2025-12-31" in issue.detail


def test_a_live_source_whose_archive_ends_before_the_window_is_stale() -> None:
    # SYNTHETIC bars: the archive holds AAA up to 2019; the provider has nothing newer (delisted)
    old = session_bars(date(2019, 6, 28), 200)
    store = MemoryStore()
    store.write("AAA", old, "fake")
    for source, warnings in ((FakeSource({"AAA": old}), []), (FakeSource({}), ["fetch_failed"])):
        fetched = fetch_bars(
            source, ["AAA"], AS_OF, CAL, run_id="r", start=START, archive=store, explicit=True
        )
        assert fetched.ok == {}
        (issue,) = fetched.report.skipped
        assert (issue.symbol, issue.reason) == ("AAA", "stale") and "last bar 2019-06-28" in issue.detail
        assert [w.reason for w in fetched.report.warnings] == warnings  # shown, but not an outage


def test_stale_frames_inside_the_window_are_still_the_quality_gates() -> None:
    frames = {"AAA": session_bars(date(2024, 1, 31), 200)}
    fetched = fetch_bars(FakeSource(frames), ["AAA"], AS_OF, CAL, run_id="r", start=START, explicit=True)
    (issue,) = fetched.report.skipped
    assert issue.reason == "stale" and issue.detail.startswith("last bar 2024-01-31")
    assert fetched.report.expected_last_session == AS_OF and pd.Timestamp(AS_OF) not in fetched.ok
