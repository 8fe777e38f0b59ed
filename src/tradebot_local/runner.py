"""Run the whole pipeline locally: the real ASL in the emulator, the real handlers, then the executor.

``run_pipeline`` deploys template.yaml into moto, starts one execution of the state machine, waits for it
(with a timeout, showing per-symbol progress if asked), drains the orders queue with the executor and
returns a :class:`RunReport`: the execution's states (its whole history, page by page), the run's
objects read back by their pointers (quality report, signals, the decision's ranking), the orders as the
ledger has them, the fills and the paper account.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections import Counter
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
    failed_state: str | None = None  # the step that failed (a failed run)
    error_type: str | None = None  # its error's class name (e.g. InputValidationError)
    error_message: str | None = None  # its error's message
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    awaiting_open: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    portfolio: dict[str, Any] = field(default_factory=dict)
    corporate_actions: list[dict[str, Any]] = field(default_factory=list)  # splits applied by the run
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # namespace -> metric -> sum
    details: RunDetails = field(default_factory=lambda: RunDetails())
    invocations: dict[str, int] = field(default_factory=dict)  # Lambda function -> invocations
    lambda_seconds: dict[str, float] = field(default_factory=dict)  # Lambda function -> handler time
    largest_payload: int = 0  # bytes: the largest state input or output in the execution history
    transitions: int = 0  # states entered by the execution (a Map's children run as their own executions)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        fetch = self.output.get("fetch", {})
        details = self.details
        return {
            "status": self.status,
            "execution_name": self.execution_name,
            "states": [s.name for s in self.states],
            "state_durations_s": [{"name": s.name, "seconds": round(s.seconds, 4)} for s in self.states],
            "as_of": fetch.get("as_of"),
            "source": fetch.get("source"),
            "synthetic": fetch.get("synthetic"),
            "market_open": fetch.get("market_open"),
            "symbols": fetch.get("symbols", 0),
            "skipped": details.skipped,
            "quality_report": fetch.get("quality"),
            "data_warnings": fetch.get("warnings", 0),
            "warnings": details.warnings,
            "signals": details.signals,
            "signals_object": self.output.get("signals", {}).get("signals"),
            "withheld": details.withheld,
            "optimization_failed": details.optimization_failed,
            "ranking": details.ranking,
            "decision_notes": details.notes,
            "orders": self.orders,
            "fills": self.fills,
            "awaiting_open": self.awaiting_open,
            "rejected": self.rejected,
            "corporate_actions": self.corporate_actions,
            "portfolio": self.portfolio,
            "failed_state": self.failed_state,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "error": self.error,
            "cause": self.cause,
            "metrics": self.metrics,
            "invocations": self.invocations,
            "lambda_seconds": {k: round(v, 3) for k, v in self.lambda_seconds.items()},
            "largest_payload_bytes": self.largest_payload,
            "state_transitions": self.transitions,
            "elapsed_s": round(self.seconds, 3),
        }


@dataclass
class RunDetails:
    """What a run wrote, read back by its pointers (empty where the run did not get that far)."""

    skipped: list[dict[str, Any]] = field(default_factory=list)  # quality report: skipped, with reasons
    warnings: list[dict[str, Any]] = field(default_factory=list)  # quality report: warnings
    signals: list[dict[str, Any]] = field(default_factory=list)  # SignalsDocument
    withheld: list[dict[str, Any]] = field(default_factory=list)  # signals withheld, with the warning
    optimization_failed: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)  # the decision's candidates
    notes: list[str] = field(default_factory=list)  # the decision's notes


def run_details(output: dict[str, Any]) -> RunDetails:
    """Read the run's quality report, signals and decision detail back from the emulated S3."""
    s3 = boto3.client("s3", region_name=REGION)
    details = RunDetails()
    quality = (output.get("fetch") or {}).get("quality")
    if quality:
        report = _json_object(s3, quality)
        details.skipped, details.warnings = report.get("skipped", []), report.get("warnings", [])
    signals = (output.get("signals") or {}).get("signals")
    if signals:
        document = _json_object(s3, signals)
        details.signals, details.optimization_failed = document["signals"], document.get("failed", [])
        details.withheld = document.get("withheld", [])
    decision = (output.get("trade") or {}).get("decision")
    if decision:
        try:
            detail = _json_object(s3, decision)
        except s3.exceptions.NoSuchKey:  # decided by an earlier local run: its objects are gone
            details.notes = [
                f"the session was decided by an earlier run; its ranking ({decision['key']}) "
                "is not kept between local runs"
            ]
        else:
            details.ranking, details.notes = detail["candidates"], detail.get("notes", [])
    return details


def _json_object(s3: Any, pointer: dict[str, str]) -> dict[str, Any]:
    body = s3.get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
    data: dict[str, Any] = json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    return data


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


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution's history, page by page (a page holds at most 1,000)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def largest_payload(events: list[dict[str, Any]]) -> int:
    """The largest state input or output in ``events``, in bytes (UTF-8), as Step Functions limits them."""
    sizes = [0]
    for event in events:
        for key, value in event.items():
            if key.endswith("EventDetails") and isinstance(value, dict):
                sizes += [len(str(value[k]).encode()) for k in ("input", "output") if k in value]
    return max(sizes)


def last_state_data(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The state data after the last state that exited (for a failed run: the failure handler's input,
    with everything the earlier steps returned and ``error``)."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails")
        if details and details.get("output"):
            data: dict[str, Any] = json.loads(details["output"])
            return data
    return {}


def states_entered(events: list[dict[str, Any]]) -> list[StateRun]:
    """Top-level and Map-iteration states in the order entered, with the time spent in each."""
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
    sfn: Any,
    execution_arn: str,
    timeout_s: float,
    poll_s: float = 0.02,
    on_poll: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll describe_execution until the (background-thread) execution ends, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if on_poll is not None:
            on_poll()
        if desc["status"] in TERMINAL:
            return desc
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {desc['status']} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def start_and_wait(
    dep: LocalDeployment,
    request: PipelineRequest,
    execution_name: str | None = None,
    timeout_s: float = 300,
    progress: Progress | None = None,
) -> RunReport:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    name = execution_name or f"run-{request.as_of or 'latest'}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    arn = sfn.start_execution(
        stateMachineArn=dep.state_machine_arn,
        name=name,
        input=json.dumps(request.model_dump(mode="json", exclude_none=True)),
    )["executionArn"]
    desc = wait_for_execution(sfn, arn, timeout_s, on_poll=progress)
    events = execution_history(sfn, arn)
    report = RunReport(
        status=desc["status"],
        execution_name=name,
        states=states_entered(events),
        output=json.loads(desc["output"]) if desc.get("output") else last_state_data(events),
        error=desc.get("error"),
        cause=desc.get("cause"),
        largest_payload=largest_payload(events),
        transitions=sum(1 for e in events if e["type"].endswith("StateEntered")),
    )
    if report.status != "SUCCEEDED":
        report.failed_state, report.error_type, report.error_message = failure(report.output, desc)
    report.seconds = time.perf_counter() - started
    return report


def failure(data: dict[str, Any], desc: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(the failed step, its error type, its message) of a failed execution: the step is named in the state
    data by the state machine's Catch; a Lambda's cause is the runtime's JSON error document."""
    error = data.get("error") or {}
    error_type = error.get("Error") or desc.get("error")
    cause = error.get("Cause") or desc.get("cause") or ""
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and "errorMessage" in document:
        return data.get("failed_state"), document.get("errorType", error_type), str(document["errorMessage"])
    return data.get("failed_state"), error_type, cause or None


class Progress:
    """Per-symbol progress of a local run, from the invocations the dispatcher has recorded: the universe
    once FetchMarketData returned, then the symbols of each finished OptimizeStrategy batch."""

    def __init__(self, dispatcher: LambdaDispatcher, show: Callable[[str, int, int], None]) -> None:
        self._dispatcher = dispatcher
        self._show = show  # (phase, done, total)
        self._seen = 0
        self._total = 0
        self._done = 0
        self._phase = "FetchMarketData"

    def __call__(self) -> None:
        invocations = self._dispatcher.invocations[self._seen :]
        self._seen += len(invocations)
        for inv in invocations:
            output = inv.output if isinstance(inv.output, dict) else {}
            if inv.function.startswith("FetchMarketData"):
                self._total, self._phase = int(output.get("symbols", 0)), "OptimizeStrategy"
            elif inv.function.startswith("OptimizeStrategy"):
                batch = inv.event.get("batch", {}) if isinstance(inv.event, dict) else {}
                self._done += len(batch.get("symbols", [])) if inv.error_type is None else 0
            else:
                self._phase = inv.function.removesuffix("Function")
        self._show(self._phase, self._done, self._total)


def run_pipeline(
    request: PipelineRequest,
    *,
    execution_name: str | None = None,
    on_invoke: Callable[[str, Any], None] | None = None,
    timeout_s: float = 3600,
    account: AccountFile | None = None,
    show_progress: Callable[[str, int, int], None] | None = None,
    on_deployed: Callable[[], None] | None = None,
) -> RunReport:
    """Deploy, restore the local paper account (``account``, default :meth:`AccountFile.default`), run one
    execution (``show_progress(phase, symbols done, symbols)`` while it runs), drain the queue with the
    executor, save the account, and report. ``on_deployed`` is called once the stack is up, before the
    execution starts (e.g. to observe the SDK calls the run makes)."""
    dispatcher = LambdaDispatcher()
    dispatcher.on_invoke = on_invoke
    account = account or AccountFile.default()
    progress = Progress(dispatcher, show_progress) if show_progress is not None else None
    with account.locked(), local_stack(dispatcher, account) as (dep, _):
        if on_deployed is not None:
            on_deployed()
        report = start_and_wait(dep, request, execution_name, timeout_s, progress)
        settled = settle(report.output)
        report.orders, report.fills = settled.orders, settled.fills
        report.awaiting_open, report.rejected = settled.awaiting_open, settled.rejected
        report.portfolio = settled.portfolio
        report.corporate_actions = settled.corporate_actions
        report.details = run_details(report.output)
        report.metrics = metric_totals(dispatcher.metrics)
        report.invocations = dict(Counter(i.function for i in dispatcher.invocations))
        for i in dispatcher.invocations:
            report.lambda_seconds[i.function] = report.lambda_seconds.get(i.function, 0.0) + i.seconds
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
