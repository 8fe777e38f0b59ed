"""`tradebot invoke`: one Lambda handler, in-process, against the emulator (the no-Docker `sam local invoke`).

Events that point at a run's objects in S3 get them first: the steps before the invoked one are run for
the event's run id and session with the offline sample source, exactly as the state machine would have
run them (FetchMarketData for OptimizeStrategy; then every batch's OptimizeStrategy for GenerateSignals;
then GenerateSignals for PaperTrade), and the event's pointers must be the ones they wrote. When those steps
write nothing (the event's session is not one the market traded: the state machine would have stopped at
IsMarketOpen), the handler gets the event as it is, and its own checks answer it.

Errors (:class:`InputValidationError`): an unknown function; an event the steps before cannot run for
(their error, named); pointers other than the ones those steps wrote.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tradebot.errors import InputValidationError
from tradebot_local.emulator import REGION, LambdaDispatcher
from tradebot_local.handlers import function_folders
from tradebot_local.runner import local_stack


def resolve_function(name: str, logical_ids: dict[str, str]) -> str:
    """Accept a functions/ folder name or a template logical id; return the folder name."""
    folders = function_folders()
    if name in folders:
        return name
    if name in logical_ids:
        return logical_ids[name]
    valid = sorted(folders) + sorted(logical_ids)
    raise InputValidationError(f"unknown function {name!r}; valid: {', '.join(valid)}")


UPSTREAM = ("fetch_market_data", "optimize_strategy", "generate_signals", "paper_trade")


def invoke_function(name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run one handler as the emulator's Lambda would; returns (succeeded, output or the runtime-shaped
    error)."""
    with local_stack() as (dep, dispatcher):
        physical = {path.name: logical for logical, path in dep.functions.items()}
        folder = resolve_function(name, {logical: path.name for logical, path in dep.functions.items()})
        if isinstance(event, dict) and folder in UPSTREAM[1:]:
            _run_upstream(dispatcher, physical, folder, event)
        ok, result = dispatcher.call(physical[folder], event)
        if not ok:
            result = {k: result[k] for k in ("errorType", "errorMessage")}
        return ok, result


def _run_upstream(
    dispatcher: LambdaDispatcher, physical: dict[str, str], folder: str, event: dict[str, Any]
) -> None:
    """Run the steps before ``folder`` for the event's run on the sample data; check the event points at
    what they wrote."""
    request: dict[str, Any] = {"source": "sample"}
    if "as_of" in event:
        request["as_of"] = event["as_of"]
    run_id = event.get("run_id", "invoke")
    fetched = _call(dispatcher, physical["fetch_market_data"], {"run_id": run_id, "request": request})
    if fetched.get("manifest") is None:  # no session (market closed): nothing upstream to point at
        return
    if folder == "optimize_strategy":
        batch = event.get("batch")
        _expect(
            batch.get("bars") if isinstance(batch, dict) else None,
            _manifest_bars(fetched, batch),
            "batch.bars",
        )
        return
    for batch in _manifest(fetched):
        item = {"run_id": run_id, "as_of": fetched["as_of"], "strategy": fetched["strategy"], "batch": batch}
        _call(dispatcher, physical["optimize_strategy"], item)
    if folder == "generate_signals":
        _expect(event.get("manifest"), fetched["manifest"], "manifest")
        return
    signals = {
        "run_id": run_id,
        "as_of": fetched["as_of"],
        "manifest": fetched["manifest"],
        "batches": fetched["batches"],
        "tolerated_failure_percentage": fetched["tolerated_failure_percentage"],
        "quality": fetched["quality"],
    }
    produced = _call(dispatcher, physical["generate_signals"], signals)
    _expect(event.get("signals"), produced["signals"], "signals")


def _call(dispatcher: LambdaDispatcher, function: str, event: dict[str, Any]) -> Any:
    ok, result = dispatcher.call(function, event)
    if not ok:
        raise InputValidationError(
            f"could not prepare the objects this event points at: {function} failed with "
            f"{result['errorType']}: {result['errorMessage']}"
        )
    return result


def _manifest(fetched: dict[str, Any]) -> list[dict[str, Any]]:
    pointer = fetched["manifest"]
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=pointer["bucket"], Key=pointer["key"])[
        "Body"
    ]
    items: list[dict[str, Any]] = json.loads(body.read())
    return items


def _manifest_bars(fetched: dict[str, Any], batch: Any) -> Any:
    number = batch.get("batch") if isinstance(batch, dict) else None
    return next((b["bars"] for b in _manifest(fetched) if b["batch"] == number), None)


def _expect(given: Any, written: Any, field: str) -> None:
    if given != written:
        raise InputValidationError(
            f"the event's {field} does not point where its run wrote it: expected {json.dumps(written)}"
        )
