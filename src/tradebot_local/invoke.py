"""`tradebot invoke`: one Lambda handler, in-process, against the emulator (the no-Docker `sam local invoke`).

Events that point at a run's bars in S3 (optimize, signals) get those bars first: the FetchMarketData
handler is run for the event's run id and session with the offline sample source, exactly as the state
machine would have run it.
"""

from __future__ import annotations

import json
from typing import Any

from tradebot_local.emulator import LambdaContext
from tradebot_local.handlers import function_folders, load_handler
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
    """Run one handler; returns (succeeded, output or the runtime-shaped error)."""
    with local_stack() as (dep, _):
        logical_ids = {logical: path.name for logical, path in dep.functions.items()}
        folder = resolve_function(name, logical_ids)
        if isinstance(event, dict) and "bars" in event and folder != "fetch_market_data":
            _seed_bars(event)
        handler = load_handler(function_folders()[folder])
        try:
            return True, handler(event, LambdaContext(function_name=folder))
        except Exception as exc:  # shown as the Lambda runtime would report it
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _seed_bars(event: dict[str, Any]) -> None:
    fetch = load_handler(function_folders()["fetch_market_data"])
    request: dict[str, Any] = {"source": "sample"}
    if "as_of" in event:
        request["as_of"] = event["as_of"]
    result = fetch(
        {"run_id": event.get("run_id", "invoke"), "request": request}, LambdaContext("fetch_market_data")
    )
    if result.get("bars") != event["bars"]:
        raise ValueError(
            "the event's bars pointer does not match where FetchMarketData archives this run: "
            f"expected {json.dumps(result.get('bars'))}"
        )
