"""Run the whole pipeline locally: the real ASL in the emulator, the real handlers, then the executor.

``run_pipeline`` deploys template.yaml into moto, starts one execution of the state machine, waits for it
(with a timeout), drains the orders queue with the executor and returns a :class:`RunReport`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3

from tradebot.contracts import PipelineRequest
from tradebot.pipeline.runtime import reset_runtime
from tradebot_local.account_file import AccountFile
from tradebot_local.emulator import REGION, Handler, LambdaDispatcher, emulated_aws
from tradebot_local.handlers import load_handler
from tradebot_local.provision import LocalDeployment, deploy
from tradebot_local.settle import settle


def local_environment() -> dict[str, str]:
    """What local invocations add to the template's environment: no X-Ray daemon here; handler logs at
    POWERTOOLS_LOG_LEVEL (default WARNING: they go to stderr, the report to stdout). Metrics stay on:
    the dispatcher collects their EMF documents."""
    return {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        "POWERTOOLS_DEV": "false",
    }


TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class StateRun:
    name: str
    seconds: float


@dataclass
class RunReport:
    status: str
    execution_name: str
    states: list[StateRun]
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    awaiting_open: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    portfolio: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # namespace -> metric -> sum
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        fetch = self.output.get("fetch", {})
        return {
            "status": self.status,
            "execution_name": self.execution_name,
            "states": [s.name for s in self.states],
            "state_durations_s": [{"name": s.name, "seconds": round(s.seconds, 4)} for s in self.states],
            "as_of": fetch.get("as_of"),
            "source": fetch.get("source"),
            "synthetic": fetch.get("synthetic"),
            "market_open": fetch.get("market_open"),
            "skipped": fetch.get("skipped", []),
            "quality_report": fetch.get("quality"),
            "data_warnings": fetch.get("warnings", 0),
            "signals": self.output.get("signals", {}).get("signals", []),
            "orders": self.orders,
            "fills": self.fills,
            "awaiting_open": self.awaiting_open,
            "rejected": self.rejected,
            "portfolio": self.portfolio,
            "error": self.error,
            "cause": self.cause,
            "metrics": self.metrics,
            "elapsed_s": round(self.seconds, 3),
        }


@contextmanager
def local_stack(
    dispatcher: LambdaDispatcher | None = None, account: AccountFile | None = None
) -> Iterator[tuple[LocalDeployment, LambdaDispatcher]]:
    """The emulator with template.yaml deployed, the functions' environment set and handlers registered;
    with ``account``, the saved local paper account restored into its tables."""
    with emulated_aws(dispatcher) as disp:
        dep = deploy()
        if account is not None:
            account.restore(boto3.client("dynamodb", region_name=REGION), dep.refs)
        local = local_environment()
        with mock.patch.dict(os.environ, {**dep.environment, **local}):
            reset_runtime()
            for name, folder in dep.functions.items():
                disp.register(name, _cold_loaded(folder), {**dep.function_environments[name], **local})
            try:
                yield dep, disp
            finally:
                reset_runtime()


def _cold_loaded(folder: Path) -> Handler:
    """The function's handler, its module loaded at the first invocation, inside that invocation's
    environment (as a Lambda cold start)."""

    def handler(event: dict[str, Any], context: Any) -> Any:
        return load_handler(folder)(event, context)

    return handler


def states_entered(sfn: Any, execution_arn: str) -> list[StateRun]:
    """Top-level and Map-iteration states in the order entered, with the time spent in each."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered: dict[str, datetime] = {}
    runs: list[StateRun] = []
    for ev in events:
        kind = ev["type"]
        if kind.endswith("StateEntered"):
            name = ev["stateEnteredEventDetails"]["name"]
            entered[name] = ev["timestamp"]
            runs.append(StateRun(name, 0.0))
        elif kind.endswith("StateExited"):
            name = ev["stateExitedEventDetails"]["name"]
            if name in entered:
                for run in reversed(runs):
                    if run.name == name and run.seconds == 0.0:
                        run.seconds = (ev["timestamp"] - entered[name]).total_seconds()
                        break
    return runs


def wait_for_execution(
    sfn: Any, execution_arn: str, timeout_s: float, poll_s: float = 0.02
) -> dict[str, Any]:
    """Poll describe_execution until the (background-thread) execution ends, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] in TERMINAL:
            return desc
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {desc['status']} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def start_and_wait(
    dep: LocalDeployment, request: PipelineRequest, execution_name: str | None = None, timeout_s: float = 300
) -> RunReport:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    name = execution_name or f"run-{request.as_of or 'latest'}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    arn = sfn.start_execution(
        stateMachineArn=dep.state_machine_arn,
        name=name,
        input=json.dumps(request.model_dump(mode="json", exclude_none=True)),
    )["executionArn"]
    desc = wait_for_execution(sfn, arn, timeout_s)
    report = RunReport(
        status=desc["status"],
        execution_name=name,
        states=states_entered(sfn, arn),
        output=json.loads(desc.get("output") or "{}"),
        error=desc.get("error"),
        cause=desc.get("cause"),
    )
    report.seconds = time.perf_counter() - started
    return report


def run_pipeline(
    request: PipelineRequest,
    *,
    execution_name: str | None = None,
    on_invoke: Callable[[str, Any], None] | None = None,
    timeout_s: float = 300,
    account: AccountFile | None = None,
) -> RunReport:
    """Deploy, restore the local paper account (``account``, default :meth:`AccountFile.default`), run one
    execution, drain the queue with the executor, save the account, and report."""
    dispatcher = LambdaDispatcher()
    dispatcher.on_invoke = on_invoke
    account = account or AccountFile.default()
    with account.locked(), local_stack(dispatcher, account) as (dep, _):
        report = start_and_wait(dep, request, execution_name, timeout_s)
        settled = settle(report.output)
        report.orders, report.fills = settled.orders, settled.fills
        report.awaiting_open, report.rejected = settled.awaiting_open, settled.rejected
        report.portfolio = settled.portfolio
        report.metrics = metric_totals(dispatcher.metrics)
        account.save(boto3.client("dynamodb", region_name=REGION), dep.refs)
        return report


def metric_totals(documents: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Sum of each metric's values over EMF documents, per namespace (what CloudWatch would chart)."""
    totals: dict[str, dict[str, float]] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            per = totals.setdefault(directive["Namespace"], {})
            for metric in directive["Metrics"]:
                value = doc.get(metric["Name"], 0.0)
                per[metric["Name"]] = per.get(metric["Name"], 0.0) + sum(
                    value if isinstance(value, list) else [value]
                )
    return totals
