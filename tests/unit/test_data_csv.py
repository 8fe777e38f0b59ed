"""csv:DIR source and the Yahoo CSV reader/writer: quirks, exact round trip, failures per symbol."""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.data import BAR_COLUMNS, BarSource, source_from_spec
from tradebot.data.bars import DuplicateDatesError, adj_close_missing
from tradebot.data.csv_source import CsvSource, read_bars_csv, read_yahoo_csv, write_yahoo_csv
from tradebot.data.sample import SampleSource
from tradebot.errors import InputValidationError

YAHOO = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2024-01-02,187.149994,188.440002,183.889999,185.639999,184.938217,82488700\n"
    "2024-01-03,184.220001,185.880005,183.429993,184.250000,183.553467,58414500\n"
    "2024-01-04,182.149994,183.089996,180.880005,181.910004,181.222321,71983600"  # no trailing newline
)


def bars(rows: dict[str, list[float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(list(rows)), name="Date")
    return pd.DataFrame(list(rows.values()), index=index, columns=list(BAR_COLUMNS), dtype=np.float64)


def test_reads_yahoo_format_without_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_text(YAHOO)
    frame = read_yahoo_csv(path)
    assert list(frame.columns) == list(BAR_COLUMNS)
    assert frame.index.name == "Date" and frame.index.tz is None
    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-03"),
        pd.Timestamp("2024-01-04"),
    ]
    assert all(frame[c].dtype == np.float64 for c in BAR_COLUMNS)
    assert frame.loc["2024-01-04", "Volume"] == 71983600.0
    assert frame.loc["2024-01-02", "Adj Close"] == 184.938217


def test_null_values_become_nan() -> None:
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,1,2,0.5,1.5,1.5,100\n"
        "2024-01-03,null,null,null,null,null,null\n"
    )
    frame = read_yahoo_csv(io.StringIO(text))
    assert frame.loc["2024-01-03"].isna().all()
    assert frame.loc["2024-01-02", "Close"] == 1.5


def test_missing_adj_close_stays_missing_and_extra_columns_are_ignored() -> None:
    # issue 10: Adj Close used to be copied from Close, so a total-return backtest silently used Close
    text = "Date, Open, High, Low, Close, Volume, Dividends\n2024-01-02,1,2,0.5,1.5,100,0\n"
    frame = read_yahoo_csv(io.StringIO(text))
    assert list(frame.columns) == list(BAR_COLUMNS)
    assert math.isnan(frame.loc["2024-01-02", "Adj Close"]) and adj_close_missing(frame)
    assert frame.loc["2024-01-02", "Close"] == 1.5


def test_unsorted_identical_duplicates_and_tz_offsets() -> None:
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-03-11 00:00:00-04:00,3,3,3,3,3,1\n"
        "2024-03-08 00:00:00-05:00,1,1,1,1,1,1\n"
        "2024-03-11 00:00:00-04:00,3,3,3,3,3,1\n"
    )
    read = read_bars_csv(io.StringIO(text))
    assert read.frame.index.tolist() == [pd.Timestamp("2024-03-08"), pd.Timestamp("2024-03-11")]
    assert read.frame["Close"].tolist() == [1.0, 3.0]
    assert [(n.reason, n.detail) for n in read.notes] == [
        ("identical_duplicate_dropped", "dropped identical duplicate row(s) of 2024-03-11")
    ]


def test_conflicting_duplicates_are_refused_not_resolved() -> None:
    # issue 10: "the last row of a date wins" is gone: which copy is right cannot be known
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-03-11 00:00:00-04:00,2,2,2,2,2,1\n"
        "2024-03-08 00:00:00-05:00,1,1,1,1,1,1\n"
        "2024-03-11 00:00:00-04:00,3,3,3,3,3,1\n"
    )
    with pytest.raises(DuplicateDatesError, match=r"conflicting rows .*: 2024-03-11") as info:
        read_yahoo_csv(io.StringIO(text))
    assert info.value.dates == [date(2024, 3, 11)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Open,Close\n1,2\n", "no Date column"),
        ("Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n", "missing columns: Volume"),
        ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,x,1,1,1\n", "non-numeric"),
        ("Date,Open,High,Low,Close,Volume\nyesterday,1,1,1,1,1\n", "unreadable Date"),
        ("", "not a readable CSV"),
    ],
)
def test_unreadable_files_raise_input_validation_error(text: str, match: str) -> None:
    with pytest.raises(InputValidationError, match=match):
        read_yahoo_csv(io.StringIO(text))


def test_round_trip_of_sample_is_exact(tmp_path: Path) -> None:
    frame = SampleSource().load(["SYN-B"], None, date(2025, 12, 31)).frames["SYN-B"]
    write_yahoo_csv(frame, tmp_path / "SYN-B.csv")
    text = (tmp_path / "SYN-B.csv").read_text()
    assert text.startswith("Date,Open,High,Low,Close,Adj Close,Volume\n2015-01-02,")
    pd.testing.assert_frame_equal(read_yahoo_csv(tmp_path / "SYN-B.csv"), frame)


any_float = st.floats(allow_nan=False, width=64)  # infinities too


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(any_float | st.just(math.nan), min_size=6, max_size=6), min_size=1, max_size=30))
def test_round_trip_is_exact_for_any_float64(rows: list[list[float]]) -> None:
    index = pd.date_range("2020-01-01", periods=len(rows), freq="D", name="Date")
    frame = pd.DataFrame(rows, index=index, columns=list(BAR_COLUMNS), dtype=np.float64)
    buffer = io.StringIO()
    write_yahoo_csv(frame, buffer)
    back = read_yahoo_csv(io.StringIO(buffer.getvalue()))
    pd.testing.assert_frame_equal(back, frame, check_freq=False, check_exact=True)
    assert back.index.equals(frame.index)
    assert np.array_equal(back.to_numpy(), frame.to_numpy(), equal_nan=True)


def make_dir(tmp_path: Path) -> Path:
    write_yahoo_csv(
        bars({"2024-01-02": [1, 2, 0.5, 1.5, 1.5, 10], "2024-01-03": [2, 3, 1, 2.5, 2.5, 20]}),
        tmp_path / "msft.csv",
    )
    (tmp_path / "AAPL.csv").write_text(YAHOO)
    (tmp_path / "BROKEN.csv").write_text("Date,Open\n2024-01-02,1\n")
    (tmp_path / "notes.txt").write_text("not data")
    return tmp_path


def test_csv_source_loads_slices_and_reports_failures(tmp_path: Path) -> None:
    src = CsvSource(make_dir(tmp_path))
    assert isinstance(src, BarSource)
    assert src.name == f"csv:{tmp_path.resolve()}" and src.synthetic is False
    assert src.default_symbols() == ["AAPL", "BROKEN", "MSFT"]
    result = src.load(["MSFT", "AAPL", "NOPE", "BROKEN"], date(2024, 1, 3), date(2024, 1, 3))
    assert list(result.frames) == ["MSFT", "AAPL"]
    assert result.frames["MSFT"].index.tolist() == [pd.Timestamp("2024-01-03")]
    assert result.frames["AAPL"]["Close"].tolist() == [184.25]
    assert result.failures["NOPE"].startswith("no data")
    assert result.failures["BROKEN"].startswith("unreadable CSV")
    out_of_range = src.load(["MSFT"], None, date(2023, 12, 31))
    assert out_of_range.frames == {} and out_of_range.failures["MSFT"].startswith("no data")


def test_source_from_spec_csv_relative_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    make_dir(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    relative = source_from_spec("csv:data")
    absolute = source_from_spec(f"csv:{tmp_path / 'data'}")
    assert isinstance(relative, CsvSource) and isinstance(absolute, CsvSource)
    assert relative.name == absolute.name == f"csv:{(tmp_path / 'data').resolve()}"
    with pytest.raises(InputValidationError, match="not a directory"):
        source_from_spec("csv:missing-dir")


def test_a_source_parses_each_file_once_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "AAA.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,11,9,10.5,10.5,100\n")
    source = CsvSource(tmp_path)
    first = source.load(["AAA"], None, date(2024, 1, 31)).frames["AAA"]
    first.loc[:, "Close"] = -1.0  # what a caller does to its frame does not reach the next caller
    assert source.load(["AAA"], None, date(2024, 1, 31)).frames["AAA"]["Close"].tolist() == [10.5]
    path.write_text(path.read_text() + "2024-01-03,10.5,12,10,11.5,11.5,120\n")
    assert source.load(["AAA"], None, date(2024, 1, 31)).frames["AAA"]["Close"].tolist() == [10.5, 11.5]
