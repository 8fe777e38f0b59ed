"""The real statemachine/trading_pipeline.asl.json, executed by the emulator with the real handlers."""

from __future__ import annotations

import json
from datetime import date

import boto3
import pytest

from tests.conftest import aws_state
from tradebot.contracts import PipelineRequest
from tradebot.errors import DataQualityError, RetryableError
from tradebot_local.runner import run_details, run_pipeline, start_and_wait
from tradebot_local.settle import settle

pytestmark = pytest.mark.e2e
AS_OF = date(2025, 12, 30)  # a session of the synthetic sample with a next session to fill at
SAMPLE = PipelineRequest(source="sample", as_of=AS_OF)


def run_item(stack, execution_name):
    return boto3.client("dynamodb").get_item(
        TableName=stack.refs["StateTable"], Key={"pk": {"S": f"RUN#{execution_name}"}, "sk": {"S": "SUMMARY"}}
    )["Item"]


def test_happy_path_orders_are_filled_at_the_next_open(stack):
    # When the pipeline runs on the sample data
    report = start_and_wait(stack, SAMPLE, execution_name="happy")
    settled = settle(report.output)
    executed = settled.executed
    # Then every step ran, in order, and the run was recorded
    assert report.status == "SUCCEEDED", report.cause
    names = [s.name for s in report.states]
    assert names[:3] == ["FetchMarketData", "IsMarketOpen", "OptimizeStrategy"]
    assert names[-3:] == ["PaperTrade", "RecordRun", "Done"]
    fetch = report.output["fetch"]
    assert (fetch["symbols"], fetch["batches"]) == (5, 1)
    optimize_calls = [i for i in stack.dispatcher.invocations if i.function == "OptimizeStrategyFunction"]
    assert [len(i.event["batch"]["symbols"]) for i in optimize_calls] == [5]  # one Map child per batch
    item = run_item(stack, "happy")
    assert item["status"]["S"] == "SUCCEEDED"
    assert item["quality_report"]["S"] == fetch["quality"]["key"]
    assert (item["symbols"]["N"], item["signals"]["N"]) == ("5", "5")
    # and the output is labelled synthetic
    assert fetch["synthetic"] is True
    signals = run_details(report.output).signals
    assert len(signals) == 5 and all(s["symbol"].startswith("SYN-") for s in signals)
    # and at least one order was sent, and every order filled once, at the next session's open (plus slippage)
    orders = settled.orders
    assert orders and executed is not None
    assert sorted(f.order_id for f in executed.filled) == sorted(o["order_id"] for o in orders)
    from tradebot.data import source_from_spec

    sample = source_from_spec("sample")
    for fill in executed.filled:
        assert fill.session == date(2025, 12, 31)
        bar = sample.load([fill.symbol], fill.session, fill.session).frames[fill.symbol].iloc[0]
        slip = 1 + 5 / 10_000 if fill.side == "BUY" else 1 - 5 / 10_000
        assert fill.price == pytest.approx(bar["Open"] * slip)
    # and the portfolio holds exactly the fills, paid for in cash
    spent = sum(f.quantity * f.price + f.commission for f in executed.filled if f.side == "BUY")
    assert settled.portfolio["cash"] == pytest.approx(100_000 - spent, abs=0.01)
    assert {s: p["quantity"] for s, p in settled.portfolio["positions"].items()} == {
        f.symbol: f.quantity for f in executed.filled
    }


def test_retryable_fetch_error_is_retried_and_the_run_succeeds(stack):
    calls: list[str] = []

    def throttle_once(function: str, event: dict) -> None:
        if function == "FetchMarketDataFunction":
            calls.append(function)
            if len(calls) == 1:
                raise RetryableError("429 Too Many Requests from the data provider")

    stack.dispatcher.on_invoke = throttle_once
    report = start_and_wait(stack, SAMPLE, execution_name="retry")
    assert report.status == "SUCCEEDED", report.cause
    assert len(calls) == 2
    # the ASL's RetryableError interval (30 s, full jitter) was requested and recorded, not slept
    assert len(stack.dispatcher.retry_waits) == 1 and 0 <= stack.dispatcher.retry_waits[0] <= 30
    assert report.output["trade"]["sent"] >= 1


def test_permanent_failure_is_recorded_and_sends_no_orders(stack):
    def broken_signals(function: str, event: dict) -> None:
        if function == "GenerateSignalsFunction":
            raise DataQualityError("injected: bars unusable")

    stack.dispatcher.on_invoke = broken_signals
    report = start_and_wait(stack, SAMPLE, execution_name="broken")
    assert report.status == "FAILED"
    names = [s.name for s in report.states]
    assert "PaperTrade" not in names
    assert names[-3:] == ["GenerateSignalsFailed", "RecordFailure", "RunFailed"]
    item = run_item(stack, "broken")
    assert item["status"]["S"] == "FAILED" and item["error"]["S"] == "DataQualityError"
    assert item["failed_state"]["S"] == "GenerateSignals" and "injected: bars unusable" in item["cause"]["S"]
    # the execution itself fails with the step's error, and the report says where and why
    assert report.error == "DataQualityError"
    assert (report.failed_state, report.error_type, report.error_message) == (
        "GenerateSignals",
        "DataQualityError",
        "injected: bars unusable",
    )
    state = aws_state(stack)
    assert state["OrdersQueue"]["ApproximateNumberOfMessages"] == "0"
    assert state["LedgerTable"] == []


def test_market_closed_day_ends_early_and_cleanly(stack):
    report = start_and_wait(
        stack, PipelineRequest(source="sample", as_of=date(2024, 7, 4)), execution_name="holiday"
    )
    assert report.status == "SUCCEEDED"
    assert [s.name for s in report.states] == [
        "FetchMarketData",
        "IsMarketOpen",
        "RecordMarketClosed",
        "MarketClosed",
    ]
    assert report.output["fetch"]["market_open"] is False
    assert run_item(stack, "holiday")["status"]["S"] == "MARKET_CLOSED"
    assert aws_state(stack)["LedgerTable"] == []


def test_run_pipeline_json_report_has_the_documented_fields():
    report = run_pipeline(SAMPLE).to_json()
    assert report["status"] == "SUCCEEDED"
    for key in ("execution_name", "states", "orders", "fills", "portfolio"):
        assert key in report
    assert {"order_id", "symbol", "side", "quantity"} <= set(report["orders"][0])
    assert {"order_id", "symbol", "side", "quantity", "price"} <= set(report["fills"][0])
    assert {"cash", "positions", "equity"} <= set(report["portfolio"])
    json.dumps(report)


def test_orders_whose_next_session_has_no_bar_are_cancelled_with_the_reason(stack, tmp_path):
    # Given CSVs (made from the synthetic sample) that end on the as-of session, run long after the next
    # session (2025-12-31) has closed: its bar will never come from this source
    from tradebot.data import source_from_spec
    from tradebot.data.csv_source import write_yahoo_csv

    sample = source_from_spec("sample").load(["SYN-A", "SYN-B", "SYN-C", "SYN-D", "SYN-E"], None, AS_OF)
    for symbol, frame in sample.frames.items():
        write_yahoo_csv(frame, tmp_path / f"{symbol}.csv")
    # When the pipeline runs on them
    report = start_and_wait(
        stack, PipelineRequest(source=f"csv:{tmp_path}", as_of=AS_OF), execution_name="eod"
    )
    settled = settle(report.output)
    # Then the orders are not filled at a later price, nor left waiting forever: the day orders are
    # CANCELLED, saying why
    assert report.status == "SUCCEEDED", report.cause
    orders = settled.orders
    assert orders and settled.executed.filled == [] and settled.awaiting_open == []
    assert {o["status"] for o in orders} == {"CANCELLED"}
    assert all("no bar for" in o["status_reason"] and "2025-12-31" in o["status_reason"] for o in orders)
    assert settled.portfolio["cash"] == 100_000 and settled.portfolio["positions"] == {}


@pytest.mark.parametrize(
    ("args", "state", "error", "message"),
    [
        (["--source", "csv:/nonexistent"], "FetchMarketData", "InputValidationError", "is not a directory"),
        (
            ["--symbols", "FOO,BAR"],
            "FetchMarketData",
            "UnknownSymbolError",
            "no data for any requested symbol",
        ),
        (["--as-of", "2030-01-02"], "FetchMarketData", "InputValidationError", "2030-01-02"),
    ],
)
def test_a_failed_run_says_which_step_failed_and_why(args, state, error, message):
    from typer.testing import CliRunner

    from tradebot_local.cli import app

    result = CliRunner().invoke(app, ["run", "--json", *args])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["status"], report["failed_state"], report["error_type"]) == ("FAILED", state, error)
    assert message in report["error_message"]
    table = CliRunner().invoke(app, ["run", *args])
    assert f"Failed in {state}: {error}:" in table.stdout
