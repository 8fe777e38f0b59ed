"""Each Lambda handler against the emulated stack: the sample events work, bad input changes nothing."""

from __future__ import annotations

import copy
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


def test_fetch_archives_one_object_and_reports(stack):
    result = invoke("fetch_market_data", event("fetch_market_data"))
    assert result["market_open"] and result["tradable"] and result["synthetic"]
    assert result["bars"] == event("optimize_strategy")["bars"]
    # the run's bars and its quality report, nothing else
    assert sorted(aws_state(stack)["DataBucket"]) == sorted([result["bars"]["key"], result["quality"]["key"]])


def test_the_chain_of_sample_events(stack):
    invoke("fetch_market_data", event("fetch_market_data"))
    optimized = invoke("optimize_strategy", event("optimize_strategy"))
    assert optimized["symbol"] == "SYN-A" and optimized["reoptimized"] and optimized["evaluated"] > 0
    again = invoke("optimize_strategy", event("optimize_strategy"))
    assert not again["reoptimized"] and again["params"] == optimized["params"]  # fresh params are reused
    signals = invoke("generate_signals", event("generate_signals"))
    assert {s["symbol"] for s in signals["signals"]} == {
        o["symbol"] for o in event("generate_signals")["optimized"]
    }
    traded = invoke("paper_trade", event("paper_trade"))
    assert traded["sent"] == len(traded["orders"]) >= 1
    queued = aws_state(stack)["OrdersQueue"]["ApproximateNumberOfMessages"]
    assert int(queued) == traded["sent"]


def test_paper_trade_retried_returns_the_recorded_result_and_sends_nothing_more(stack):
    invoke("fetch_market_data", event("fetch_market_data"))
    first = invoke("paper_trade", event("paper_trade"))
    second = invoke("paper_trade", event("paper_trade"))
    assert second == first
    assert int(aws_state(stack)["OrdersQueue"]["ApproximateNumberOfMessages"]) == first["sent"]


MALFORMED = {
    "fetch_market_data": [
        None,
        [],
        {"run_id": "bad id with spaces"},
        {"run_id": "r", "request": {"as_of": "x"}},
    ],
    "optimize_strategy": [{}, {**event("optimize_strategy"), "symbol": "not a symbol"}],
    "generate_signals": [{**event("generate_signals"), "optimized": []}],
    "paper_trade": [
        {**event("paper_trade"), "signals": "SYN-A"},
        {
            **event("paper_trade"),
            "signals": [{**event("paper_trade")["signals"][0], "close": float("nan")}],
        },
        {
            **event("paper_trade"),
            "signals": [{**event("paper_trade")["signals"][0], "close": -5.0}],
        },
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
    invoke("fetch_market_data", event("fetch_market_data"))
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
