"""A large universe through the real state machine: states carry pointers and counts only, the optimize
step fans out on a Distributed Map over batches, and failed symbols are reported, within a tolerance."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import aws_state
from tradebot.contracts import PipelineRequest
from tradebot.errors import DataQualityError
from tradebot_local.runner import run_details, start_and_wait
from tradebot_local.settle import settle
from tradebot_local.universe import write_synthetic_universe

pytestmark = pytest.mark.e2e
AS_OF = date(2024, 5, 30)
PAYLOAD_LIMIT = 16 * 1024  # bytes: the largest state input or output allowed whatever the universe's size


def run_item(stack: Any, name: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(
        TableName=stack.refs["StateTable"], Key={"pk": {"S": f"RUN#{name}"}, "sk": {"S": "SUMMARY"}}
    )["Item"]


def optimize_calls(stack: Any) -> list[Any]:
    return [i for i in stack.dispatcher.invocations if i.function == "OptimizeStrategyFunction"]


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("universe-1000")
    write_synthetic_universe(directory, 1000, date(2024, 1, 1), date(2024, 5, 31))
    return directory


@pytest.fixture(scope="module")
def thirty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("universe-30")
    write_synthetic_universe(directory, 30, date(2023, 6, 1), date(2024, 5, 31), seed=11)
    return directory


def test_a_thousand_symbols_fan_out_in_batches_and_every_state_stays_small(stack, thousand):
    # Given one batch whose Map child fails outright (its Lambda keeps raising)
    def one_batch_fails(function: str, event: dict[str, Any]) -> None:
        if function == "OptimizeStrategyFunction" and event["batch"]["batch"] == 3:
            raise DataQualityError("injected: batch 3 cannot be optimized")

    stack.dispatcher.on_invoke = one_batch_fails
    # When the pipeline runs on 1,000 symbols
    report = start_and_wait(stack, PipelineRequest(source=f"csv:{thousand}", as_of=AS_OF), "scale-1000")
    # Then it succeeds with no state input or output above 16 KB
    assert report.status == "SUCCEEDED", report.cause
    assert 0 < report.largest_payload < PAYLOAD_LIMIT
    fetch, signals = report.output["fetch"], report.output["signals"]
    assert (fetch["symbols"], fetch["batches"]) == (1000, 10)
    # one Map child per batch of 100 (the template's default), each invoked once
    assert sorted(i.event["batch"]["batch"] for i in optimize_calls(stack)) == list(range(10))
    # the failed batch's 100 symbols are reported, which is exactly the tolerated 10%: the rest trade
    assert (signals["count"], signals["failed"]) == (900, 100)
    details = run_details(report.output)
    assert {f["detail"] for f in details.optimization_failed} == {"batch 3 has no result"}
    assert len(details.signals) == 900
    item = run_item(stack, "scale-1000")
    assert (item["symbols"]["N"], item["signals"]["N"], item["optimization_failed"]["N"]) == (
        "1000",
        "900",
        "100",
    )
    # and the portfolio is built from the best ranked candidates, within max_positions
    ranking = details.ranking
    assert len(ranking) == signals["long"] > 10
    selected = [c for c in ranking if c["selected"]]
    assert [c["rank"] for c in selected] == list(range(1, 11))
    scores = [c["out_of_sample_score"] for c in ranking if c["out_of_sample_score"] is not None]
    assert scores == sorted(scores, reverse=True)
    left_out = [c for c in ranking if not c["selected"]]
    assert all(c["reason"].startswith("max_positions=10 reached") and c["quantity"] == 0 for c in left_out)
    orders = settle(report.output).orders
    assert {o["symbol"] for o in orders} == {c["symbol"] for c in selected if c["quantity"]}
    assert len(orders) <= 10


def test_a_symbol_whose_optimization_raises_is_reported_and_the_rest_trade(stack, thirty, monkeypatch):
    from tradebot.pipeline import optimize as step

    real = step.optimize

    def broken_for_one(bars: Any, strategy: str, **kwargs: Any) -> Any:
        if float(bars["Close"].iloc[0]) == first_close["U0007"]:
            raise FloatingPointError("injected: overflow in U0007's grid")
        return real(bars, strategy, **kwargs)

    first_close = {p.stem: float(p.read_text().splitlines()[1].split(",")[4]) for p in thirty.glob("U*.csv")}
    monkeypatch.setattr(step, "optimize", broken_for_one)
    report = start_and_wait(stack, PipelineRequest(source=f"csv:{thirty}", as_of=AS_OF), "one-broken")
    assert report.status == "SUCCEEDED", report.cause
    assert (report.output["signals"]["count"], report.output["signals"]["failed"]) == (29, 1)
    (failure,) = run_details(report.output).optimization_failed
    assert failure == {
        "symbol": "U0007",
        "reason": "optimization_failed",
        "detail": "FloatingPointError: injected: overflow in U0007's grid",
    }
    assert "trade" in report.output and report.output["trade"]["candidates"] >= 1


def test_past_the_tolerance_the_run_fails_cleanly_and_sends_no_order(stack, thirty, monkeypatch):
    from tradebot.pipeline import optimize as step

    real = step.optimize
    calls = {"n": 0}

    def broken_for_five(bars: Any, strategy: str, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 5:  # 5 of 30 symbols: 16.7% > the tolerated 10%
            raise ValueError("injected")
        return real(bars, strategy, **kwargs)

    monkeypatch.setattr(step, "optimize", broken_for_five)
    report = start_and_wait(stack, PipelineRequest(source=f"csv:{thirty}", as_of=AS_OF), "too-broken")
    assert report.status == "FAILED"
    assert [s.name for s in report.states][-4:] == [
        "GenerateSignals",
        "GenerateSignalsFailed",
        "RecordFailure",
        "RunFailed",
    ]
    assert (report.failed_state, report.error_type) == ("GenerateSignals", "OptimizationError")
    item = run_item(stack, "too-broken")
    assert (item["status"]["S"], item["error"]["S"], item["failed_state"]["S"]) == (
        "FAILED",
        "OptimizationError",
        "GenerateSignals",
    )
    assert "5 of 30 symbols could not be optimized" in item["cause"]["S"]
    state = aws_state(stack)
    assert state["OrdersQueue"]["ApproximateNumberOfMessages"] == "0" and state["LedgerTable"] == []
    assert not any(key.endswith("signals.json.gz") for key in state["DataBucket"])


def test_the_run_summary_and_the_signals_object_have_the_documented_formats(stack, thirty):
    report = start_and_wait(stack, PipelineRequest(source=f"csv:{thirty}", as_of=AS_OF), "formats")
    assert report.status == "SUCCEEDED", report.cause
    prefix = f"runs/{AS_OF.isoformat()}/formats/"
    keys = set(aws_state(stack)["DataBucket"])
    expected = {
        "quality.json",
        "manifest.json",
        "bars/00000.csv.gz",
        "optimize/00000.json",
        "signals.json.gz",
    }
    assert {k.removeprefix(prefix) for k in keys if k.startswith(prefix)} >= expected
    body = boto3.client("s3").get_object(
        Bucket=report.output["signals"]["signals"]["bucket"], Key=prefix + "signals.json.gz"
    )
    document = json.loads(gzip.decompress(body["Body"].read()))
    assert set(document) == {"run_id", "as_of", "signals", "failed", "withheld", "splits"}
    assert len(document["signals"]) == 30 and document["withheld"] == []
