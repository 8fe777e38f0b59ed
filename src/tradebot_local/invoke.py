"""`tradebot invoke`: one Lambda handler, in-process, against the emulator (the no-Docker `sam local invoke`).

Events that point at a run's bars in S3 (optimize, signals) get those bars first: the FetchMarketData
handler is run for the event's run id and session with the offline sample source, exactly as the state
machine would have run it.
"""

from __future__ import annotations

import json
from typing import Any

from tradebot_local.emulator import LambdaDispatcher
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
    raise KeyError(f"unknown function {name!r}; valid: {', '.join(valid)}")


def invoke_function(name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run one handler as the emulator's Lambda would; returns (succeeded, output or the runtime-shaped
    error)."""
    with local_stack() as (dep, dispatcher):
        physical = {path.name: logical for logical, path in dep.functions.items()}
        folder = resolve_function(name, {logical: path.name for logical, path in dep.functions.items()})
        if isinstance(event, dict) and "bars" in event and folder != "fetch_market_data":
            _seed_bars(dispatcher, physical["fetch_market_data"], event)
        ok, result = dispatcher.call(physical[folder], event)
        if not ok:
            result = {k: result[k] for k in ("errorType", "errorMessage")}
        return ok, result


def _seed_bars(dispatcher: LambdaDispatcher, fetch: str, event: dict[str, Any]) -> None:
    request: dict[str, Any] = {"source": "sample"}
    if "as_of" in event:
        request["as_of"] = event["as_of"]
    ok, result = dispatcher.call(fetch, {"run_id": event.get("run_id", "invoke"), "request": request})
    if not ok:
        raise ValueError(f"could not archive the sample bars this event points at: {result['errorMessage']}")
    if result.get("bars") != event["bars"]:
        raise ValueError(
            "the event's bars pointer does not match where FetchMarketData archives this run: "
            f"expected {json.dumps(result.get('bars'))}"
        )
