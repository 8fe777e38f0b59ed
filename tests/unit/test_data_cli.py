"""`tradebot data fetch` and `tradebot data check`, as a user runs them (Yahoo faked at its boundary)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.market_fakes import install_fake_yahoo, session_bars, write_csv_dir
from tradebot.calendar import get_calendar
from tradebot.data import source_from_spec
from tradebot.data.csv_source import read_yahoo_csv
from tradebot_local.cli import app

runner = CliRunner()
END = date(2024, 7, 5)


def invoke(*args: str):
    return runner.invoke(app, ["data", *args])


def test_fetch_from_yahoo_writes_yahoo_csvs_then_only_new_bars(monkeypatch, tmp_path):
    frames = {s: session_bars(END, 80, seed=i) for i, s in enumerate(["SPY", "QQQ"])}
    yahoo = install_fake_yahoo(monkeypatch, tmp_path / "cache", frames)
    out = tmp_path / "bars"
    first = invoke(
        "fetch", "--symbols", "spy,QQQ", "--source", "yfinance", "--out", str(out), "--end", "2024-07-03"
    )
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.iterdir()) == ["QQQ.csv", "SPY.csv"]
    assert (out / "SPY.csv").read_text().startswith("Date,Open,High,Low,Close,Adj Close,Volume\n")
    pd.testing.assert_frame_equal(read_yahoo_csv(out / "SPY.csv"), frames["SPY"].loc[:"2024-07-03"])
    assert {start for _, start in yahoo.downloads()} == {None}  # no --start: all the history Yahoo has
    assert "2/2" in first.stderr  # the progress bar
    assert f"--source csv:{out}" in first.stdout.replace("\n", "")

    yahoo.history_calls.clear()
    second = invoke(
        "fetch", "--symbols", "SPY,QQQ", "--source", "yfinance", "--out", str(out), "--end", "2024-07-05"
    )
    assert second.exit_code == 0, second.output
    assert sorted(yahoo.downloads()) == [("QQQ", "2024-07-02"), ("SPY", "2024-07-02")]  # only what is new
    pd.testing.assert_frame_equal(read_yahoo_csv(out / "QQQ.csv"), frames["QQQ"])

    yahoo.history_calls.clear()
    third = invoke(
        "fetch", "--symbols", "SPY,QQQ", "--source", "yfinance", "--out", str(out), "--end", "2024-07-05"
    )
    assert third.exit_code == 0 and yahoo.history_calls == [] and "up to date" in third.stdout


def test_fetch_failures_exit_1_and_a_rate_limit_says_how_to_resume(monkeypatch, tmp_path):
    frames = {"SPY": session_bars(END, 80)}
    install_fake_yahoo(monkeypatch, tmp_path / "cache", frames)
    out = tmp_path / "bars"
    partial = invoke(
        "fetch", "--symbols", "SPY,NOPE", "--source", "yfinance", "--out", str(out), "--end", "2024-07-05"
    )
    assert partial.exit_code == 1
    assert "failed" in partial.stdout and (out / "SPY.csv").is_file() and not (out / "NOPE.csv").exists()

    install_fake_yahoo(monkeypatch, tmp_path / "cache", frames, rate_limited=99)
    limited = invoke(
        "fetch", "--symbols", "QQQ", "--source", "yfinance", "--out", str(out), "--end", "2024-07-05"
    )
    assert limited.exit_code == 1
    assert "RetryableError" in limited.stderr and "run the same command again" in limited.stderr


def test_fetch_the_sample_is_labelled_synthetic(tmp_path):
    result = invoke(
        "fetch", "--source", "sample", "--symbols", "SYN-A", "--out", str(tmp_path), "--start", "2025-01-01"
    )
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stderr and "SYNTHETIC" in result.stdout
    assert read_yahoo_csv(tmp_path / "SYN-A.csv").index[-1] == pd.Timestamp("2025-12-31")
    # the directory stays labelled: used as a source, its bars are synthetic
    assert "SYNTHETIC" in (tmp_path / "SYNTHETIC.txt").read_text()
    assert source_from_spec(f"csv:{tmp_path}").synthetic is True
    checked = invoke("check", "--source", f"csv:{tmp_path}", "--as-of", "2025-12-31", "--min-bars", "20")
    assert checked.exit_code == 0, checked.output
    assert "SYNTHETIC" in checked.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "SPY,no way"], "not a ticker"),
        (["--symbols", "SPY", "--end", "2024-02-30"], "not a date"),
        (["--symbols", "SPY", "--source", "ftp://x"], "unknown data source"),
        (["--symbols", "SPY", "--start", "2024-07-05", "--end", "2024-07-01"], "is after"),
        (["--source", "yfinance"], "--symbols"),
    ],
)
def test_fetch_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "bars"
    result = invoke("fetch", "--out", str(out), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert not out.exists()


def test_fetch_refuses_a_session_that_has_not_closed(monkeypatch, tmp_path):
    install_fake_yahoo(monkeypatch, tmp_path / "cache", {})
    future = get_calendar().last_session  # always after now
    result = invoke("fetch", "--symbols", "SPY", "--out", str(tmp_path / "b"), "--end", future.isoformat())
    assert result.exit_code == 2 and "has not closed yet" in result.stderr


def test_check_prints_the_quality_report(tmp_path):
    frames = {"AAA": session_bars(date(2024, 4, 19)), "BBB": session_bars(END)}
    directory = write_csv_dir(tmp_path, frames)
    result = invoke("check", "--source", f"csv:{directory}", "--as-of", END.isoformat())
    assert result.exit_code == 1  # a symbol would be skipped
    assert "stale" in result.stdout and "1 ok, 1 skipped" in result.stdout
    as_json = invoke("check", "--source", f"csv:{directory}", "--as-of", END.isoformat(), "--json")
    report = json.loads(as_json.stdout)
    assert report["ok"] == ["BBB"] and report["skipped"][0]["reason"] == "stale"


def test_check_the_sample_passes_and_says_synthetic():
    result = invoke("check", "--source", "sample")
    assert result.exit_code == 0, result.output
    assert "5 ok, 0 skipped" in result.stdout and "SYNTHETIC" in result.stdout


# --- issue 10: the reader says what it did (REAL SPY rows from tests/fixtures, modified) ---------------


def test_fetch_and_check_print_what_the_reader_did(tmp_path):
    from tests.market_fakes import spy_until, write_spy

    source = write_spy(
        tmp_path / "src", [*spy_until("2024-04-18"), "2024-04-18,null,null,null,null,null,null"]
    )
    fetched = invoke(
        "fetch", "--symbols", "SPY", "--source", f"csv:{source}", "--out", str(tmp_path / "out"),
        "--end", "2024-04-18",
    )  # fmt: skip
    assert fetched.exit_code == 0, fetched.output
    assert "SPY: empty_duplicate_dropped" in fetched.stdout
    assert read_yahoo_csv(tmp_path / "out" / "SPY.csv")["Close"].iloc[-1] == pytest.approx(499.52)
    checked = invoke("check", "--source", f"csv:{source}", "--as-of", "2024-04-18", "--json")
    assert checked.exit_code == 0
    (warning,) = json.loads(checked.stdout)["warnings"]
    assert warning["reason"] == "empty_duplicate_dropped" and "2024-04-18" in warning["detail"]


def test_check_names_the_last_bar_of_data_that_ended_long_ago(tmp_path):
    from tests.market_fakes import spy_until, write_spy

    directory = write_spy(tmp_path, spy_until("2019-12-31"))
    for start in ([], ["--start", "2021-04-19"]):  # all history, or a lookback window it does not reach
        result = invoke("check", "--source", f"csv:{directory}", "--as-of", "2024-04-18", "--json", *start)
        assert result.exit_code == 1, result.output
        (skipped,) = json.loads(result.stdout)["skipped"]
        assert skipped["reason"] == "stale" and "last bar 2019-12-31" in skipped["detail"]
