"""Each Lambda handler against the emulated stack: the sample events work, bad input changes nothing."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import aws_state
from tradebot.errors import InputValidationError, KillSwitchEngaged, UnknownSymbolError
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.config import TradingConfig
from tradebot_local.emulator import LambdaContext
from tradebot_local.handlers import function_folders, load_handler

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def invoke(function: str, payload: Any) -> Any:
    return load_handler(function_folders()[function])(payload, LambdaContext(function_name=function))


def test_every_function_has_a_sample_event():
    assert set(function_folders()) <= {p.stem for p in EVENTS.glob("*.json")}


def test_fetch_writes_the_batches_their_manifest_and_the_report(stack):
    result = invoke("fetch_market_data", event("fetch_market_data"))
    assert result["market_open"] and result["tradable"] and result["synthetic"]
    assert (result["symbols"], result["batches"]) == (5, 1)
    assert result["manifest"] == event("generate_signals")["manifest"]
    (batch,) = json.loads(read_object(result["manifest"]))
    assert batch == event("optimize_strategy")["batch"]
    # the run's one batch of bars, its manifest and its quality report, nothing else
    keys = [batch["bars"]["key"], result["manifest"]["key"], result["quality"]["key"]]
    assert sorted(aws_state(stack)["DataBucket"]) == sorted(keys)


def read_object(pointer: dict[str, str]) -> bytes:
    body: bytes = boto3.client("s3").get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
    return body


STEPS = ("fetch_market_data", "optimize_strategy", "generate_signals", "paper_trade")


def run_chain(until: str = "paper_trade") -> dict[str, Any]:
    """The sample events in the order the state machine runs them, up to ``until``; each step's output."""
    outputs = {}
    for name in STEPS[: STEPS.index(until) + 1]:
        outputs[name] = invoke(name, event(name))
    return outputs


def test_the_chain_of_sample_events(stack):
    outputs = run_chain()
    optimized = outputs["optimize_strategy"]
    assert (optimized["batch"], optimized["optimized"], optimized["reoptimized"]) == (0, 5, 5)
    assert optimized["evaluated"] > 0 and optimized["failed"] == 0
    again = invoke("optimize_strategy", event("optimize_strategy"))
    assert (again["reoptimized"], again["evaluated"]) == (0, 0)  # fresh params are reused
    assert read_object(again["result"]) != b""
    signals = outputs["generate_signals"]
    assert signals["signals"] == event("paper_trade")["signals"]
    assert (signals["count"], signals["failed"]) == (5, 0) and signals["long"] >= 1
    document = json.loads(gzip.decompress(read_object(signals["signals"])))
    assert {s["symbol"] for s in document["signals"]} == set(event("optimize_strategy")["batch"]["symbols"])
    traded = outputs["paper_trade"]
    assert traded["sent"] == traded["orders"] >= 1
    assert traded["candidates"] == signals["long"]
    queued = aws_state(stack)["OrdersQueue"]["ApproximateNumberOfMessages"]
    assert int(queued) == traded["sent"]
    ranking = json.loads(read_object(traded["decision"]))["candidates"]
    assert [c["rank"] for c in ranking] == list(range(1, signals["long"] + 1))


def test_paper_trade_retried_returns_the_recorded_result_and_sends_nothing_more(stack):
    run_chain()
    first = invoke("paper_trade", event("paper_trade"))
    second = invoke("paper_trade", event("paper_trade"))
    assert second == first
    assert int(aws_state(stack)["OrdersQueue"]["ApproximateNumberOfMessages"]) == first["orders"]


MALFORMED = {
    "fetch_market_data": [
        None,
        [],
        {"run_id": "bad id with spaces"},
        {"run_id": "r", "request": {"as_of": "x"}},
    ],
    "optimize_strategy": [
        {},
        {**event("optimize_strategy"), "batch": {**event("optimize_strategy")["batch"], "symbols": ["bad!"]}},
        {**event("optimize_strategy"), "batch": {**event("optimize_strategy")["batch"], "symbols": []}},
        {**event("optimize_strategy"), "strategy": "nosuch"},
    ],
    "generate_signals": [
        {**event("generate_signals"), "batches": 0},
        {**event("generate_signals"), "manifest": "runs/x"},
        {**event("generate_signals"), "tolerated_failure_percentage": 101},
    ],
    "paper_trade": [
        {**event("paper_trade"), "signals": "SYN-A"},
        {**event("paper_trade"), "signals": [{"symbol": "SYN-A"}]},
        {**event("paper_trade"), "as_of": "2025-13-01"},
    ],
}


@pytest.mark.parametrize(
    ("function", "payload"), [(f, p) for f, payloads in MALFORMED.items() for p in payloads]
)
def test_malformed_event_raises_validation_error_and_writes_nothing(stack, function, payload):
    before = aws_state(stack)
    with pytest.raises(InputValidationError) as info:
        invoke(function, copy.deepcopy(payload))
    assert str(info.value)  # a readable message naming the model and the field
    assert aws_state(stack) == before


BAD_SIGNALS = {
    "NaN close": {"close": float("nan")},
    "negative close": {"close": -5.0},
    "infinite close": {"close": float("inf")},
    "a weight above 1": {"target_weight": 2.0},
    "a bar 7 months old": {"bar_date": "2025-05-30"},
    "a bar later than as_of": {"bar_date": "2025-12-31"},
    "the same symbol twice": {"symbol": "SYN-E"},  # signals[0] becomes a second SYN-E
}


@pytest.mark.parametrize("change", BAD_SIGNALS.values(), ids=list(BAD_SIGNALS))
def test_a_bad_signals_document_is_refused_and_nothing_is_written(stack, change):
    # Given a run whose signals object was tampered with
    outputs = run_chain(until="generate_signals")
    pointer = outputs["generate_signals"]["signals"]
    document = json.loads(gzip.decompress(read_object(pointer)))
    document["signals"][0].update(change)
    boto3.client("s3").put_object(
        Bucket=pointer["bucket"], Key=pointer["key"], Body=gzip.compress(json.dumps(document).encode())
    )
    # When PaperTrade runs on it, it refuses and nothing is written
    before = aws_state(stack)
    with pytest.raises(InputValidationError, match="signals"):
        invoke("paper_trade", event("paper_trade"))
    assert aws_state(stack) == before


def test_paper_trade_on_a_day_the_exchange_is_closed_is_refused(stack):
    run_chain(until="generate_signals")
    before = aws_state(stack)
    with pytest.raises(InputValidationError, match="as_of: 2025-12-25 is not an NYSE session"):
        invoke("paper_trade", {**event("paper_trade"), "as_of": "2025-12-25"})
    assert aws_state(stack) == before


def test_signals_of_another_run_are_refused(stack):
    run_chain(until="generate_signals")
    before = aws_state(stack)
    with pytest.raises(InputValidationError, match="not run other-run"):
        invoke("paper_trade", {**event("paper_trade"), "run_id": "other-run"})
    assert aws_state(stack) == before


def test_unknown_symbols_are_a_typed_error_and_nothing_is_archived(stack):
    payload = {"run_id": "r1", "request": {"source": "sample", "as_of": "2025-12-30", "symbols": ["NOPE"]}}
    with pytest.raises(UnknownSymbolError, match="NOPE"):
        invoke("fetch_market_data", payload)
    assert aws_state(stack)["DataBucket"] == []


def test_unknown_source_is_a_validation_error(stack):
    payload = {"run_id": "r1", "request": {"source": "ftp://nowhere", "as_of": "2025-12-30"}}
    with pytest.raises(InputValidationError, match="source"):
        invoke("fetch_market_data", payload)


def test_kill_switch_stops_paper_trade_before_anything_is_written(stack):
    run_chain(until="generate_signals")
    ConfigStore(stack.refs["ConfigTable"]).save(
        TradingConfig(kill_switch=True, kill_switch_reason="test halt")
    )
    before = aws_state(stack)
    with pytest.raises(KillSwitchEngaged, match="test halt"):
        invoke("paper_trade", event("paper_trade"))
    after = aws_state(stack)
    assert after["LedgerTable"] == before["LedgerTable"] == []
    assert after["OrdersQueue"] == before["OrdersQueue"]
    assert after["IdempotencyTable"] == before["IdempotencyTable"]


def test_handlers_read_settings_from_the_template_environment(stack):
    # the emulator set exactly the template's Globals, resolved to the local stack's names
    assert stack.environment["LEDGER_TABLE"] == stack.refs["LedgerTable"]
    assert boto3.client("dynamodb").describe_table(TableName=stack.environment["LEDGER_TABLE"])
