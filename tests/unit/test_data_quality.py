"""Quality gate: each rule skips a symbol with its reason code; warnings never skip."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.calendar import TradingCalendar, get_calendar
from tradebot.data import BAR_COLUMNS
from tradebot.data.quality import QualityReport, check_bars
from tradebot.data.sample import SampleSource

AS_OF = date(2024, 7, 5)  # a Friday session, after the 4 July holiday


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return get_calendar()


def make_bars(end: date, n: int = 80, *, start_price: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """n consistent bars on the n sessions ending at `end`."""
    cal = get_calendar()
    days = cal.sessions(end - timedelta(days=3 * n), end)[-n:]
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    open_ = close * np.exp(rng.normal(0, 0.005, len(days)))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").as_unit("us")  # the bars convention's unit
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Adj Close": close, "Volume": 1e6},
        index=index,
    )


def only_issue(report: QualityReport, symbol: str = "X") -> tuple[str, str]:
    assert symbol not in report.ok
    (issue,) = [i for i in report.issues if i.symbol == symbol]
    return issue.reason, issue.detail


def test_good_bars_pass_unchanged(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    report = check_bars({"X": frame}, AS_OF, cal)
    assert report.issues == [] and report.warnings == []
    pd.testing.assert_frame_equal(report.ok["X"], frame[list(BAR_COLUMNS)])


def test_rows_after_as_of_are_dropped(cal: TradingCalendar) -> None:
    frame = make_bars(date(2024, 7, 12))
    report = check_bars({"X": frame}, AS_OF, cal)
    assert report.ok["X"].index.max() == pd.Timestamp(AS_OF)
    assert len(report.ok["X"]) == len(frame.loc[:"2024-07-05"])


def test_no_data(cal: TradingCalendar) -> None:
    empty = make_bars(AS_OF).iloc[:0]
    future = make_bars(date(2024, 9, 30)).loc["2024-07-08":]
    report = check_bars({"E": empty, "F": future}, AS_OF, cal)
    assert [(i.symbol, i.reason) for i in report.issues] == [("E", "no_data"), ("F", "no_data")]
    assert "on or before 2024-07-05" in report.issues[1].detail


def test_missing_columns_are_an_error(cal: TradingCalendar) -> None:
    assert only_issue(check_bars({"X": make_bars(AS_OF).drop(columns=["Volume"])}, AS_OF, cal))[0] == "error"


def test_nan_in_last_bar_skips(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame.iloc[-1, frame.columns.get_loc("Close")] = np.nan
    reason, detail = only_issue(check_bars({"X": frame}, AS_OF, cal))
    assert reason == "nan" and "2024-07-05" in detail


def test_nan_inside_is_dropped_with_a_warning(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame.loc["2024-06-03", "Open"] = np.nan
    report = check_bars({"X": frame}, AS_OF, cal)
    assert len(report.ok["X"]) == len(frame) - 1
    assert pd.Timestamp("2024-06-03") not in report.ok["X"].index
    assert [w.reason for w in report.warnings] == ["nan_dropped", "missing_sessions"]
    assert "2024-06-03" in report.warnings[0].detail


def test_bad_ohlc(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame.loc["2024-06-10", "Low"] = frame.loc["2024-06-10", "Close"] * 1.02
    reason, detail = only_issue(check_bars({"X": frame}, AS_OF, cal))
    assert reason == "bad_ohlc" and "2024-06-10" in detail


def test_tiny_vendor_rounding_is_tolerated(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame.loc["2024-06-10", "High"] = frame.loc["2024-06-10", ["Open", "Close"]].max() * (1 - 1e-8)
    assert "X" in check_bars({"X": frame}, AS_OF, cal).ok


@pytest.mark.parametrize(("column", "value"), [("Close", 0.0), ("Low", -1.0), ("Volume", -5.0)])
def test_non_positive(cal: TradingCalendar, column: str, value: float) -> None:
    frame = make_bars(AS_OF)
    frame.loc["2024-06-10", column] = value
    if column == "Close":
        frame.loc["2024-06-10", "Low"] = 0.0
    assert only_issue(check_bars({"X": frame}, AS_OF, cal))[0] == "non_positive"


def test_stale_names_the_last_bar(cal: TradingCalendar) -> None:
    reason, detail = only_issue(check_bars({"X": make_bars(date(2024, 7, 3))}, AS_OF, cal))
    assert reason == "stale"
    assert "last bar 2024-07-03" in detail and "2024-07-05" in detail


@pytest.mark.parametrize("as_of", [date(2024, 7, 4), date(2024, 7, 6), date(2024, 7, 7)])
def test_not_stale_when_as_of_is_a_closed_day(cal: TradingCalendar, as_of: date) -> None:
    last = date(2024, 7, 3) if as_of == date(2024, 7, 4) else date(2024, 7, 5)
    report = check_bars({"X": make_bars(last)}, as_of, cal)
    assert "X" in report.ok and report.issues == []
    assert only_issue(check_bars({"X": make_bars(cal.previous_session(last))}, as_of, cal))[0] == "stale"


def test_too_short(cal: TradingCalendar) -> None:
    reason, detail = only_issue(check_bars({"X": make_bars(AS_OF, n=30)}, AS_OF, cal))
    assert reason == "too_short" and "30 bars" in detail
    assert "X" in check_bars({"X": make_bars(AS_OF, n=30)}, AS_OF, cal, min_bars=30).ok


def test_rule_order_stale_before_too_short(cal: TradingCalendar) -> None:
    assert only_issue(check_bars({"X": make_bars(date(2024, 7, 1), n=10)}, AS_OF, cal))[0] == "stale"


def test_warnings_split_missing_and_non_session(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame.loc["2024-06-20":, ["Open", "High", "Low", "Close", "Adj Close"]] /= 2  # an unadjusted 2:1 split
    frame = frame.drop(index=[pd.Timestamp("2024-05-01"), pd.Timestamp("2024-05-02")])
    weekend = frame.loc[["2024-06-14"]].set_axis(pd.DatetimeIndex([pd.Timestamp("2024-06-15")], name="Date"))
    frame = pd.concat([frame, weekend]).sort_index()
    report = check_bars({"X": frame}, AS_OF, cal)
    assert "X" in report.ok and report.issues == []
    reasons = {w.reason: w.detail for w in report.warnings}
    assert set(reasons) == {"possible_split", "missing_sessions", "non_session_rows"}
    assert "2024-06-20" in reasons["possible_split"]
    assert "2 session(s)" in reasons["missing_sessions"] and "2024-05-01" in reasons["missing_sessions"]
    assert "2024-06-15" in reasons["non_session_rows"]


def test_unsorted_duplicated_tz_aware_input_is_normalized(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    shuffled = pd.concat([frame.iloc[::-1], frame.iloc[[5]]])
    shuffled.index = shuffled.index.tz_localize("America/New_York")
    report = check_bars({"X": shuffled}, AS_OF, cal)
    pd.testing.assert_frame_equal(report.ok["X"], frame[list(BAR_COLUMNS)])


def test_conflicting_duplicates_skip_the_symbol(cal: TradingCalendar) -> None:
    # issue 10: the last row of a date no longer wins
    frame = make_bars(AS_OF)
    other = frame.iloc[[-1]] * 1.1
    reason, detail = only_issue(check_bars({"X": pd.concat([frame, other])}, AS_OF, cal))
    assert reason == "duplicate_dates" and "2024-07-05" in detail


def test_an_empty_duplicate_is_dropped_with_a_warning(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    empty = frame.iloc[[-1]].copy()
    empty.loc[:, :] = np.nan
    report = check_bars({"X": pd.concat([frame, empty])}, AS_OF, cal)
    pd.testing.assert_frame_equal(report.ok["X"], frame[list(BAR_COLUMNS)])
    assert [w.reason for w in report.warnings] == ["empty_duplicate_dropped"]


def test_a_missing_adj_close_does_not_skip_the_symbol(cal: TradingCalendar) -> None:
    frame = make_bars(AS_OF)
    frame["Adj Close"] = np.nan  # how a source without Adj Close represents it
    report = check_bars({"X": frame, "Y": make_bars(AS_OF).drop(columns=["Adj Close"])}, AS_OF, cal)
    assert sorted(report.ok) == ["X", "Y"] and report.issues == []
    assert [(w.symbol, w.reason) for w in report.warnings] == [
        ("X", "adj_close_missing"),
        ("Y", "adj_close_missing"),
    ]
    assert report.ok["Y"]["Adj Close"].isna().all()  # never copied from Close


def test_sample_data_passes(cal: TradingCalendar) -> None:
    src = SampleSource()
    result = src.load(src.default_symbols() or [], None, date(2025, 12, 30))
    report = check_bars(result.frames, date(2025, 12, 30), cal)
    assert sorted(report.ok) == ["SYN-A", "SYN-B", "SYN-C", "SYN-D", "SYN-E"]
    assert report.issues == [] and report.warnings == []


# --- properties ---------------------------------------------------------------------------------------

ohlc_rows = st.tuples(
    st.floats(0.01, 1e5),  # close
    st.floats(-0.2, 0.2),  # log open/close
    st.floats(0, 0.2),  # upper wick
    st.floats(0, 0.2),  # lower wick
)


def frame_from(rows: list[tuple[float, float, float, float]], end: date) -> pd.DataFrame:
    cal = get_calendar()
    days = cal.sessions(end - timedelta(days=3 * len(rows) + 10), end)[-len(rows) :]
    close = np.array([r[0] for r in rows])
    open_ = close * np.exp([r[1] for r in rows])
    high = np.maximum(open_, close) * np.exp([r[2] for r in rows])
    low = np.minimum(open_, close) * np.exp([-r[3] for r in rows])
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Adj Close": close, "Volume": 1.0},
        index=index,
    )


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ohlc_rows, min_size=1, max_size=40), shift=st.integers(-10, 10))
def test_property_ok_frames_are_consistent_and_never_after_as_of(
    rows: list[tuple[float, float, float, float]], shift: int
) -> None:
    cal = get_calendar()
    frame = frame_from(rows, AS_OF)
    as_of = AS_OF + timedelta(days=shift)
    report = check_bars({"X": frame}, as_of, cal, min_bars=1)
    assert len(report.ok) + len(report.issues) == 1
    if "X" in report.ok:
        ok = report.ok["X"]
        assert ok.index.max() <= pd.Timestamp(as_of)
        assert (ok["Low"] <= ok[["Open", "Close"]].min(axis=1) * (1 + 1e-6)).all()
        assert (ok[["Open", "High", "Low", "Close"]] > 0).all().all()
    expected_last = as_of if cal.is_session(as_of) else cal.previous_session(as_of)
    if expected_last > AS_OF:
        assert report.issues[0].reason == "stale"
    elif expected_last < frame.index[0].date():
        assert report.issues[0].reason == "no_data"
    else:  # fresh, valid bars pass
        assert report.issues == []


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ohlc_rows, min_size=2, max_size=40), data=st.data())
def test_property_any_broken_bar_is_caught(
    rows: list[tuple[float, float, float, float]], data: st.DataObject
) -> None:
    cal = get_calendar()
    frame = frame_from(rows, AS_OF)
    i = data.draw(st.integers(0, len(frame) - 1))
    kind = data.draw(st.sampled_from(["low_above", "high_below", "zero", "nan_last"]))
    if kind == "low_above":
        frame.iloc[i, frame.columns.get_loc("Low")] = frame.iloc[i][["Open", "Close"]].min() * 1.01
        expected = "bad_ohlc"
    elif kind == "high_below":
        frame.iloc[i, frame.columns.get_loc("High")] = frame.iloc[i][["Open", "Close"]].max() * 0.99
        expected = "bad_ohlc"
    elif kind == "zero":
        frame.iloc[i, frame.columns.get_loc("Low")] = 0.0
        expected = "non_positive"
    else:
        frame.iloc[-1, frame.columns.get_loc("Adj Close")] = np.nan
        expected = "nan"
    report = check_bars({"X": frame}, AS_OF, cal, min_bars=1)
    assert report.ok == {}
    assert report.issues[0].reason == expected
