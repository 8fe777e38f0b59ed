"""Issue 10 §1: CSV data is read strictly, and the reader says what it did. Built from REAL SPY bars
(tests/fixtures/SPY.csv), modified as each test says; the intraday example is synthetic (labelled)."""

from __future__ import annotations

import gzip
import io
import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.market_fakes import SPY_CSV, spy_lines, spy_until, write_spy
from tradebot.calendar import get_calendar
from tradebot.data import source_from_spec
from tradebot.data.archive import decode_symbol_bars, encode_symbol_bars
from tradebot.data.bars import DuplicateDatesError, adj_close_missing
from tradebot.data.csv_source import CsvSource, read_bars_csv, read_yahoo_csv, symbol_of_file, write_yahoo_csv
from tradebot.data.run_bars import decode_run_bars, encode_run_bars
from tradebot.data.universe import fetch_bars
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import backtest
from tradebot.strategy.prices import AdjCloseMissingError, to_prices
from tradebot_local.cli import app

CAL = get_calendar()
AS_OF = date(2024, 4, 18)
runner = CliRunner()
SPY_0418 = (
    "2024-04-18,501.9800109863281,504.1300048828125,498.55999755859375,499.5199890136719,499.5199890136719,"
    "74548100"
)


def check(directory: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "check", "--source", f"csv:{directory}", *args])
    return result.exit_code, " ".join(result.output.split())


# --- duplicate dates ---------------------------------------------------------------------------------


def test_an_empty_duplicate_is_dropped_with_a_warning_and_the_complete_bar_is_used(tmp_path: Path) -> None:
    # SPY up to 2024-04-18, then one more line "2024-04-18,null,null,null,null,null,null": the symbol used to
    # be skipped as `nan` (the last row of a date won)
    directory = write_spy(tmp_path, [*spy_until("2024-04-18"), "2024-04-18,null,null,null,null,null,null"])
    loaded = CsvSource(directory).load(["SPY"], None, AS_OF)
    bars = loaded.frames["SPY"]
    assert bars.index[-1] == pd.Timestamp(AS_OF) and bars["Close"].iloc[-1] == pytest.approx(499.52)
    assert [(w.symbol, w.reason) for w in loaded.warnings] == [("SPY", "empty_duplicate_dropped")]
    fetched = fetch_bars(CsvSource(directory), ["SPY"], AS_OF, CAL, run_id="r", start=None, explicit=True)
    assert fetched.report.ok == ["SPY"] and fetched.report.skipped == []
    assert fetched.ok["SPY"]["Close"].iloc[-1] == pytest.approx(499.52)
    warnings = {(w.reason, w.detail) for w in fetched.report.warnings}
    assert (
        "empty_duplicate_dropped",
        "SPY.csv: dropped an empty duplicate row (every value missing) of 2024-04-18",
    ) in warnings
    code, output = check(directory, "--as-of", "2024-04-18")
    assert code == 0 and "1 ok, 0 skipped, 1 warning(s)" in output and "empty_duplicate_dropped" in output


def test_a_conflicting_duplicate_skips_the_symbol_never_silently_replacing_the_bar(tmp_path: Path) -> None:
    # a second copy of 2024-04-18 with prices 10% higher used to replace the real bar silently
    day, *values = SPY_0418.split(",")
    higher = ",".join([day, *(repr(float(v) * 1.1) for v in values[:-1]), values[-1]])
    directory = write_spy(tmp_path, [*spy_until("2024-04-18"), higher])
    loaded = CsvSource(directory).load(["SPY"], None, AS_OF)
    assert loaded.frames == {} and loaded.code("SPY") == "duplicate_dates"
    assert "conflicting rows" in loaded.failures["SPY"] and "2024-04-18" in loaded.failures["SPY"]
    # an explicit request for it alone is "nothing to trade", not a failed run
    fetched = fetch_bars(CsvSource(directory), ["SPY"], AS_OF, CAL, run_id="r", start=None, explicit=True)
    assert fetched.ok == {}
    assert [(i.symbol, i.reason) for i in fetched.report.skipped] == [("SPY", "duplicate_dates")]
    code, output = check(directory, "--as-of", "2024-04-18")
    assert code == 1 and "duplicate_dates" in output and "0 ok, 1 skipped" in output


def test_an_identical_duplicate_is_dropped_with_a_warning(tmp_path: Path) -> None:
    lines = spy_until("2024-04-18")
    directory = write_spy(tmp_path, [*lines[:100], lines[99], *lines[100:]])
    loaded = CsvSource(directory).load(["SPY"], None, AS_OF)
    assert len(loaded.frames["SPY"]) == len(lines) - 1
    assert [w.reason for w in loaded.warnings] == ["identical_duplicate_dropped"]


def test_duplicate_rules_hold_for_any_frame_normalized() -> None:
    from tradebot.data.bars import normalize_bars

    frame = read_yahoo_csv(SPY_CSV).iloc[-5:]
    changed = frame.iloc[[-1]].copy()
    changed["Volume"] += 1
    with pytest.raises(DuplicateDatesError, match="2024-04-19"):
        normalize_bars(pd.concat([frame, changed]))


def test_a_run_object_with_conflicting_rows_is_refused() -> None:
    frame = read_yahoo_csv(SPY_CSV).iloc[-3:]
    data = gzip.decompress(encode_run_bars({"SPY": frame})).decode()
    last = data.splitlines()[-1]
    assert set(decode_run_bars((data + last + "\n").encode())) == {"SPY"}  # an identical copy: harmless
    changed = last.rsplit(",", 1)[0] + ",1"  # the same date, another volume
    with pytest.raises(DuplicateDatesError, match="2024-04-19"):
        decode_run_bars((data + changed + "\n").encode())


# --- one date format for the whole column --------------------------------------------------------------


def ddmmyyyy(lines: list[str]) -> list[str]:
    header, *rows = lines
    return [header, *(f"{r[8:10]}/{r[5:7]}/{r[:4]}{r[10:]}" for r in rows)]


def test_day_first_dates_are_refused_naming_the_file_and_a_row(tmp_path: Path) -> None:
    # the same file with dates written 03/04/2024: each date used to be guessed on its own (3 April
    # became 4 March) and the run bought on scrambled prices
    directory = write_spy(tmp_path, ddmmyyyy(spy_until("2024-04-18")))
    with pytest.raises(InputValidationError) as info:
        read_yahoo_csv(directory / "SPY.csv")
    message = str(info.value)
    assert str(directory / "SPY.csv") in message
    assert "unreadable Date on line 2: '02/01/2015'" in message and "YYYY-MM-DD" in message
    loaded = CsvSource(directory).load(["SPY"], None, AS_OF)
    assert loaded.frames == {} and loaded.code("SPY") == "unreadable"
    with pytest.raises(InputValidationError, match="line 2: '02/01/2015'"):
        fetch_bars(CsvSource(directory), ["SPY"], AS_OF, CAL, run_id="r", start=None, explicit=True)
    result = runner.invoke(
        app, ["data", "check", "--source", f"csv:{directory}", "--as-of", "2024-04-18", "--json"]
    )
    assert result.exit_code == 1
    (skipped,) = json.loads(result.stdout)["skipped"]
    assert skipped["reason"] == "unreadable" and "line 2: '02/01/2015'" in skipped["detail"]


def test_one_ambiguous_row_in_an_iso_column_is_refused_by_line(tmp_path: Path) -> None:
    lines = spy_until("2024-04-18")
    row = next(i for i, line in enumerate(lines) if line.startswith("2024-04-03"))
    lines[row] = "03/04/2024" + lines[row][10:]
    with pytest.raises(InputValidationError, match=rf"line {row + 1}: '03/04/2024'"):
        read_yahoo_csv(write_spy(tmp_path, lines) / "SPY.csv")


@pytest.mark.parametrize(
    ("rows", "line", "text"),
    [
        (["2024-01-02,1,1,1,1,1", "2024-01-03 00:00:00,1,1,1,1,1"], 3, "2024-01-03 00:00:00"),  # two shapes
        (["2024-01-02,1,1,1,1,1", "2024-02-30,1,1,1,1,1"], 3, "2024-02-30"),  # not a date
        (["2024-01-02,1,1,1,1,1", "", "Jan 3 2024,1,1,1,1,1"], 4, "Jan 3 2024"),  # blank lines keep numbering
        (["20240102,1,1,1,1,1"], 2, "20240102"),
    ],
)
def test_the_refused_row_is_named(rows: list[str], line: int, text: str) -> None:
    csv = "Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n"
    with pytest.raises(InputValidationError, match=f"unreadable Date on line {line}: '{text}'"):
        read_yahoo_csv(io.StringIO(csv))


def test_another_format_is_one_format_for_the_whole_column(tmp_path: Path) -> None:
    directory = write_spy(tmp_path, ddmmyyyy(spy_until("2024-04-18")))
    day_first = CsvSource(directory, date_format="%d/%m/%Y").load(["SPY"], None, AS_OF).frames["SPY"]
    iso = read_yahoo_csv(SPY_CSV).loc[:"2024-04-18"]
    pd.testing.assert_frame_equal(day_first, iso)
    assert day_first.loc["2024-04-03", "Close"] == iso.loc["2024-04-03", "Close"]  # 3 April stays 3 April


def test_tz_offsets_keep_the_written_date() -> None:
    csv = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-03-08 00:00:00-05:00,1,1,1,1,1,1\n"
        "2024-03-11 00:00:00-04:00,2,2,2,2,2,1\n"
        "2024-03-12T00:00:00Z,3,3,3,3,3,1\n"
    )
    frame = read_yahoo_csv(io.StringIO(csv))
    assert frame.index.tolist() == list(pd.to_datetime(["2024-03-08", "2024-03-11", "2024-03-12"]))


# --- intraday rows ---------------------------------------------------------------------------------------


def hourly(
    day: str, opens: list[float], first_hour: int = 9, tz: str = "-04:00", adj_close: bool = True
) -> list[str]:
    """Synthetic hourly bars from HH:30 (the issue's example shape: 09:30 .. 15:30, seven rows)."""
    rows = []
    for i, price in enumerate(opens):
        stamp = f"{day} {first_hour + i:02d}:30:00{tz}"
        adj = f"{price + 0.5}," if adj_close else ""
        rows.append(f"{stamp},{price},{price + 1},{price - 1},{price + 0.5},{adj}{(i + 1) * 1000}")
    return rows


def test_intraday_rows_are_aggregated_to_true_daily_bars() -> None:
    # SYNTHETIC hourly bars, 2024-04-15 09:30..15:30 (-04:00): the file used to be collapsed to each day's
    # last hourly bar (Open 101.5, Volume 7,000); the daily bar is Open 100.0 and Volume 28,000
    opens = [100.0, 100.25, 100.5, 100.75, 101.0, 101.25, 101.5]
    header = "Date,Open,High,Low,Close,Adj Close,Volume"
    read = read_bars_csv(io.StringIO("\n".join([header, *hourly("2024-04-15", opens)]) + "\n"))
    assert read.frame.index.tolist() == [pd.Timestamp("2024-04-15")]
    bar = read.frame.iloc[0]
    assert (bar["Open"], bar["High"], bar["Low"], bar["Close"], bar["Volume"]) == (
        100.0,
        102.5,
        99.0,
        102.0,
        28000.0,
    )
    assert [(n.reason, n.detail) for n in read.notes] == [
        (
            "intraday_aggregated",
            "7 intraday rows aggregated into 1 daily bars (first open, highest high, lowest low, last close, "
            "summed volume)",
        )
    ]


def test_intraday_in_utc_extended_hours_and_partial_days() -> None:
    opens = [100.0, 100.25, 100.5, 100.75, 101.0, 101.25, 101.5]
    header = "Date,Open,High,Low,Close,Volume"
    rows = [
        "2024-04-15 12:30:00+00:00,90,90,90,90,5",  # 08:30 in New York: pre-market, left out
        *hourly("2024-04-15", opens, 13, "+00:00", adj_close=False),  # 09:30..15:30 New York, in UTC
        *hourly("2024-04-16", opens[:4], 13, "+00:00", adj_close=False),  # stops at 12:30: a partial day
    ]
    read = read_bars_csv(io.StringIO("\n".join([header, *rows]) + "\n"))
    assert read.frame.index.tolist() == [pd.Timestamp("2024-04-15")]
    assert (read.frame["Open"].iloc[0], read.frame["Volume"].iloc[0]) == (100.0, 28000.0)
    assert adj_close_missing(read.frame)
    reasons = {n.reason: n.detail for n in read.notes}
    assert set(reasons) == {"extended_hours_dropped", "partial_day_dropped", "intraday_aggregated"}
    assert (
        "2024-04-15" in reasons["extended_hours_dropped"] and "2024-04-16" in reasons["partial_day_dropped"]
    )


def test_intraday_rows_reach_the_quality_report(tmp_path: Path) -> None:
    opens = [100.0, 100.25, 100.5, 100.75, 101.0, 101.25, 101.5]
    directory = write_spy(
        tmp_path, ["Date,Open,High,Low,Close,Adj Close,Volume", *hourly("2024-04-15", opens)]
    )
    fetched = fetch_bars(
        CsvSource(directory), ["SPY"], date(2024, 4, 15), CAL, run_id="r", start=None, min_bars=1
    )
    assert fetched.report.ok == ["SPY"]
    assert "intraday_aggregated" in {w.reason for w in fetched.report.warnings}


# --- a missing Adj Close ----------------------------------------------------------------------------------


def no_adj_close(lines: list[str]) -> list[str]:
    return [",".join(f for i, f in enumerate(line.split(",")) if i != 5) for line in lines]


def test_missing_adj_close_is_missing_everywhere_never_copied_from_close(tmp_path: Path) -> None:
    directory = write_spy(tmp_path, no_adj_close(spy_lines()))
    assert (directory / "SPY.csv").read_text().startswith("Date,Open,High,Low,Close,Volume\n")
    bars = CsvSource(directory).load(["SPY"], None, AS_OF).frames["SPY"]
    assert adj_close_missing(bars) and bars["Close"].iloc[-1] == pytest.approx(499.52)
    # round trips keep it missing: the Yahoo CSV (archive objects too) and the per-run object
    buffer = io.StringIO()
    write_yahoo_csv(bars, buffer)
    assert buffer.getvalue().splitlines()[-1].endswith(",499.5199890136719,null,74548100")
    assert adj_close_missing(read_yahoo_csv(io.StringIO(buffer.getvalue())))
    assert adj_close_missing(decode_symbol_bars(encode_symbol_bars(bars), "SPY"))
    assert adj_close_missing(decode_run_bars(encode_run_bars({"SPY": bars}))["SPY"])
    # the quality gate does not skip a symbol for it: a warning says so
    fetched = fetch_bars(CsvSource(directory), ["SPY"], AS_OF, CAL, run_id="r", start=None)
    assert fetched.report.ok == ["SPY"]
    assert [w.reason for w in fetched.report.warnings] == ["adj_close_missing"]


def test_total_return_without_adj_close_is_an_error(tmp_path: Path) -> None:
    full = read_yahoo_csv(SPY_CSV)
    missing = read_yahoo_csv(write_spy(tmp_path, no_adj_close(spy_lines())) / "SPY.csv")
    with pytest.raises(AdjCloseMissingError, match="Adj Close") as info:
        to_prices(missing, "total_return")
    assert isinstance(info.value, InputValidationError) and isinstance(info.value, DataQualityError)
    with pytest.raises(InputValidationError, match="Adj Close"):
        to_prices(full.drop(columns=["Adj Close"]), "total_return")
    # buy and hold on SPY from 2015-01-01: 141.04% unadjusted, 184.14% with dividends (REAL data)
    params = {"fast": 10, "slow": 30}
    assert backtest(missing, "sma_crossover", params).stats["buy_and_hold_return_pct"] == pytest.approx(
        141.04, abs=0.005
    )
    assert backtest(full, "sma_crossover", params, adjust="total_return").stats[
        "buy_and_hold_return_pct"
    ] == pytest.approx(184.14, abs=0.005)


def test_backtest_total_return_without_adj_close_exits_2_naming_the_column(tmp_path: Path) -> None:
    directory = write_spy(tmp_path, no_adj_close(spy_lines()))
    args = ["backtest", "--data", f"csv:{directory / 'SPY.csv'}", "--strategy", "sma_crossover"]
    refused = runner.invoke(app, [*args, "--adjust", "total-return", "--start", "2015-01-01", "--json"])
    assert refused.exit_code == 2 and "Adj Close" in refused.output
    raw = runner.invoke(app, [*args, "--start", "2015-01-01", "--json"])
    assert raw.exit_code == 0, raw.output
    assert json.loads(raw.stdout)["stats"]["buy_and_hold_return_pct"] == pytest.approx(141.04, abs=0.005)
    real = runner.invoke(
        app,
        [
            "backtest",
            "--data",
            f"csv:{SPY_CSV}",
            "--strategy",
            "sma_crossover",
            "--adjust",
            "total-return",
            "--json",
        ],
    )
    assert json.loads(real.stdout)["stats"]["buy_and_hold_return_pct"] == pytest.approx(184.14, abs=0.005)


# --- dotted symbols --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("BRK.B.csv", "BRK.B"),
        ("brk.b.CSV", "BRK.B"),
        ("BRK.B.csv.gz", "BRK.B"),
        ("BF.B.csv", "BF.B"),
        ("x/SPY.csv", "SPY"),
    ],
)
def test_symbol_of_file_keeps_dots(name: str, symbol: str) -> None:
    assert symbol_of_file(name) == symbol


def test_dotted_symbols_in_csv_dir_and_backtest(tmp_path: Path) -> None:
    data = SPY_CSV.read_bytes()
    (tmp_path / "BRK.B.csv").write_bytes(data)
    (tmp_path / "BF.B.csv.gz").write_bytes(gzip.compress(data))
    src = source_from_spec(f"csv:{tmp_path}")
    assert src.default_symbols() == ["BF.B", "BRK.B"]
    assert set(src.load(["BRK.B", "BF.B"], None, AS_OF).frames) == {"BRK.B", "BF.B"}
    for name in ("BRK.B.csv", "BF.B.csv.gz"):
        result = runner.invoke(
            app, ["backtest", "--data", f"csv:{tmp_path / name}", "--strategy", "sma_crossover", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["symbol"] == symbol_of_file(name)


def test_the_fixture_is_the_real_file() -> None:
    frame = read_yahoo_csv(SPY_CSV)
    assert (frame.index[0], frame.index[-1], len(frame)) == (
        pd.Timestamp("2015-01-02"),
        pd.Timestamp("2024-04-19"),
        2340,
    )
    assert frame.loc["2024-04-18", "Close"] == 499.5199890136719 and not math.isnan(
        frame["Adj Close"].iloc[0]
    )
    assert np.isfinite(frame.to_numpy()).all()
