"""Market data through the real state machine: stale data and closed days trade nothing; a rate-limited
Yahoo (faked at yfinance's network boundary) is retried, in the Lambda and by the state machine's Retry."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tests.conftest import aws_state
from tests.market_fakes import install_fake_yahoo, session_bars, write_csv_dir
from tradebot.contracts import PipelineRequest
from tradebot_local.cli import app
from tradebot_local.runner import start_and_wait

pytestmark = pytest.mark.e2e
DATA_END = date(2024, 4, 19)  # a Friday: the CSVs' last bar
AFTER_END = date(2024, 6, 3)  # a Monday session, well after it


def run_item(stack: Any, name: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(  # type: ignore[no-any-return]
        TableName=stack.refs["StateTable"], Key={"pk": {"S": f"RUN#{name}"}, "sk": {"S": "SUMMARY"}}
    )["Item"]


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    frames = {s: session_bars(DATA_END, 200, seed=i) for i, s in enumerate(["AAA", "BBB", "CCC"])}
    return write_csv_dir(tmp_path / "bars", frames)


def assert_nothing_traded(stack: Any) -> None:
    state = aws_state(stack)
    assert state["LedgerTable"] == []
    assert state["OrdersQueue"]["ApproximateNumberOfMessages"] == "0"
    assert state["OrdersQueue"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_csv_data_ending_before_as_of_skips_every_symbol_as_stale(stack, csv_dir):
    request = PipelineRequest(source=f"csv:{csv_dir}", as_of=AFTER_END)
    report = start_and_wait(stack, request, execution_name="stale")
    assert report.status == "SUCCEEDED", report.cause
    assert [s.name for s in report.states] == [
        "FetchMarketData",
        "IsMarketOpen",
        "RecordNothingToTrade",
        "Done",
    ]
    fetch = report.output["fetch"]
    assert fetch["market_open"] is True and fetch["tradable"] is False
    assert (fetch["symbols"], fetch["skipped"], fetch["batches"], fetch["manifest"]) == (0, 3, 0, None)
    # the quality report in S3 says why, and the run summary points at it
    body = boto3.client("s3").get_object(Bucket=fetch["quality"]["bucket"], Key=fetch["quality"]["key"])[
        "Body"
    ]
    quality = json.loads(body.read())
    assert quality["ok"] == []
    assert [(s["symbol"], s["reason"]) for s in quality["skipped"]] == [
        ("AAA", "stale"),
        ("BBB", "stale"),
        ("CCC", "stale"),
    ]
    assert all(f"last bar {DATA_END}" in s["detail"] for s in quality["skipped"])
    item = run_item(stack, "stale")
    assert item["status"]["S"] == "NO_TRADABLE_SYMBOLS"
    assert (item["skipped"]["N"], item["quality_report"]["S"]) == ("3", fetch["quality"]["key"])
    assert_nothing_traded(stack)


def test_a_market_holiday_ends_as_market_closed_with_no_orders(stack, csv_dir):
    request = PipelineRequest(source=f"csv:{csv_dir}", as_of=date(2024, 7, 4))
    report = start_and_wait(stack, request, execution_name="independence-day")
    assert report.status == "SUCCEEDED", report.cause
    assert [s.name for s in report.states] == [
        "FetchMarketData",
        "IsMarketOpen",
        "RecordMarketClosed",
        "MarketClosed",
    ]
    assert report.output["fetch"]["market_open"] is False
    assert run_item(stack, "independence-day")["status"]["S"] == "MARKET_CLOSED"
    assert aws_state(stack)["DataBucket"] == []  # a closed day reads and writes no data
    assert_nothing_traded(stack)


def test_a_rate_limited_fetch_is_retried_and_the_run_succeeds(stack, monkeypatch, tmp_path):
    as_of = date(2024, 7, 5)
    symbols = ["AAA", "BBB", "CCC"]
    frames = {s: session_bars(as_of, 300, seed=10 + i) for i, s in enumerate(symbols)}
    # Yahoo answers 429 to the first 13 ticker requests: the Lambda's own 4 attempts (3 tickers each) are all
    # limited, so it raises RetryableError; the state machine's Retry invokes it again, whose first attempt
    # is still limited and whose second succeeds.
    yahoo = install_fake_yahoo(monkeypatch, tmp_path, frames, rate_limited=13)
    request = PipelineRequest(source="yfinance", symbols=symbols, as_of=as_of)
    report = start_and_wait(stack, request, execution_name="rate-limited")
    assert report.status == "SUCCEEDED", report.cause
    fetches = [i for i in stack.dispatcher.invocations if i.function == "FetchMarketDataFunction"]
    assert [i.error_type for i in fetches] == ["RetryableError", None]
    assert len(stack.dispatcher.retry_waits) == 1  # the ASL's Retry interval, recorded, not slept
    assert len(yahoo.sleeps) == 3 + 1  # the Lambda's backoff between its own attempts, not slept
    assert all(0 < s <= 30 for s in yahoo.sleeps)
    assert len(yahoo.history_calls) == 6 * 3
    names = [s.name for s in report.states]
    assert names[:3] == ["FetchMarketData", "IsMarketOpen", "OptimizeStrategy"] and names[-1] == "Done"
    assert report.output["fetch"]["symbols"] == len(symbols) and report.output["fetch"]["synthetic"] is False
    assert "trade" in report.output  # PaperTrade ran on the fetched bars
    assert sorted(k for k in aws_state(stack)["DataBucket"] if k.startswith("archive/")) == [
        f"archive/bars/{s}.csv.gz" for s in symbols
    ]


# --- the commands of the "done means", as a user types them ---------------------------------


def test_cli_run_on_csv_data_that_ended_reports_every_symbol_stale_and_places_no_order(csv_dir):
    result = CliRunner().invoke(
        app, ["run", "--json", "--source", f"csv:{csv_dir}", "--as-of", AFTER_END.isoformat()]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "SUCCEEDED" and report["orders"] == [] and report["fills"] == []
    assert {s["symbol"]: s["reason"] for s in report["skipped"]} == {
        "AAA": "stale",
        "BBB": "stale",
        "CCC": "stale",
    }


def test_cli_run_on_independence_day_reports_the_market_closed():
    result = CliRunner().invoke(app, ["run", "--json", "--as-of", "2024-07-04"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "SUCCEEDED" and report["market_open"] is False
    assert report["states"][-1] == "MarketClosed" and report["orders"] == []
