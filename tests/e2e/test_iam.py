"""Least privilege, proved: for every IAM principal of the stack, what its code does against what
template.yaml grants it.

What each principal does:
- the four Lambdas and the executor's task role: every botocore call recorded (tests/iam.py) while this
  module runs the scenarios in-process against the emulator: the sample pipeline through the real state
  machine and the executor after it, the same day again, a market holiday, a run stopped by the kill
  switch, a live Yahoo fetch (faked at yfinance's network boundary) with its bar archive, the executor's
  service loop reading prices from the archive (DataSource=s3://), and the Alpaca broker reading its keys;
- the state machine's role: its Task resources in statemachine/trading_pipeline.asl.json (Lambda tasks,
  the DynamoDB integrations, the Distributed Map's child executions, ItemReader and ResultWriter), its
  logging and tracing configuration;
- the scheduler's role: the schedule's target; the executor's execution role: its image and log driver.

The test fails when a call is not granted, or a grant is used by nothing and is not in
tests/iam_allowlist.yaml with the reason. Every principal's granted and used actions are written to
.pytest_cache/iam-table.md (and printed with -s).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import yaml

from tests.e2e.test_split_runs import D1, D2, D3, SYMBOL, bars, restated
from tests.iam import (
    ACCOUNT,
    EXECUTOR_IMAGE,
    EXECUTOR_ROLE,
    REGION,
    STACK,
    CallRecorder,
    Grant,
    Use,
    expand,
    grants,
)
from tests.market_fakes import install_fake_yahoo, session_bars, write_csv_dir
from tradebot.contracts import Order, PipelineRequest, order_id_for
from tradebot.settings import get_settings
from tradebot.store.queue import order_message
from tradebot.store.trading_config import ConfigStore
from tradebot_local.cfn import load_template
from tradebot_local.runner import start_and_wait
from tradebot_local.settle import settle

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ALLOWLIST = ROOT / "tests" / "iam_allowlist.yaml"
TABLE = ROOT / ".pytest_cache" / "iam-table.md"
PARAMETERS = {
    "VpcId": "vpc-0123",
    "VpcSubnetIds": ["subnet-0123"],
    "ExecutorImageUri": EXECUTOR_IMAGE,
    "DesiredCount": 1,
    "AlarmEmail": "",
}
SAMPLE_DAY = date(2025, 12, 30)
HOLIDAY = date(2025, 12, 25)
LIVE_DAY = date(2024, 7, 5)
STATE_MACHINE = "TradingPipelineStateMachine"
STATE_MACHINE_ROLE = f"{STATE_MACHINE}Role"
SCHEDULER_ROLE = f"{STATE_MACHINE}WeekdaysAfterCloseRole"
EXECUTION_ROLE = "ExecutorExecutionRole"


# --- what the code does ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[Use]]:
    """Every scenario, in one emulated stack, recorded."""
    from tradebot_local.runner import local_stack

    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("iam")
    monkeypatch.setenv("TRADEBOT_STATE_DIR", str(tmp_path / "state"))
    try:
        with local_stack() as (deployment, dispatcher):
            deployment.dispatcher = dispatcher
            names = {v: k for k, v in deployment.refs.items() if not k.startswith("AWS::")}
            functions = {folder.name: f"{logical}Role" for logical, folder in deployment.functions.items()}
            recorder = CallRecorder(names, functions)
            with recorder.recording():
                run_scenarios(deployment, monkeypatch, tmp_path)
            uses = recorder.uses
            uses[STATE_MACHINE_ROLE] = state_machine_uses(deployment)
            uses[SCHEDULER_ROLE] = scheduler_uses()
            uses[EXECUTION_ROLE] = execution_role_uses()
            return uses
    finally:
        monkeypatch.undo()


def run_scenarios(deployment: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # first (the account's sessions only move forward): a held position split by the source's restatement
    split_a_held_position(deployment, tmp_path)
    # a live source: Yahoo (faked at yfinance's boundary) and the bar archive in the data bucket
    symbols = ["AAA", "BBB", "CCC"]
    frames = {s: session_bars(LIVE_DAY, 300, seed=20 + i) for i, s in enumerate(symbols)}
    install_fake_yahoo(monkeypatch, tmp_path, frames)
    live = start_and_wait(
        deployment,
        PipelineRequest(source="yfinance", symbols=symbols, as_of=LIVE_DAY),
        execution_name="iam-live",
    )
    assert live.status == "SUCCEEDED", live.cause
    deployment.iam_manifest = live.output["fetch"]["manifest"]
    # DataSource=s3://<DataBucket>/archive/bars, the same day again: the fetch lists the archive for its
    # universe, PaperTrade replays the stored decision
    archive = f"s3://{deployment.refs['DataBucket']}/archive/bars"
    from_archive = start_and_wait(
        deployment, PipelineRequest(source=archive, as_of=LIVE_DAY), execution_name="iam-archive"
    )
    assert from_archive.status == "SUCCEEDED", from_archive.cause
    # the executor's service loop, its prices from the archive
    run_executor_service(deployment, archive)
    # the sample pipeline, then the executor fills its orders at the next open
    report = start_and_wait(
        deployment, PipelineRequest(source="sample", as_of=SAMPLE_DAY), execution_name="iam"
    )
    assert report.status == "SUCCEEDED", report.cause
    assert settle(report.output).executed is not None
    # the same day again: the stored decision is replayed, its orders are already recorded
    again = start_and_wait(
        deployment, PipelineRequest(source="sample", as_of=SAMPLE_DAY), execution_name="iam-again"
    )
    assert again.status == "SUCCEEDED", again.cause
    # a holiday ends as market closed
    closed = start_and_wait(
        deployment, PipelineRequest(source="sample", as_of=HOLIDAY), execution_name="iam-closed"
    )
    assert closed.status == "SUCCEEDED", closed.cause
    # the kill switch: PaperTrade refuses, the run fails through RecordFailure
    config = ConfigStore(get_settings().config_table)
    config.set_kill_switch(True, "iam scenario")
    stopped = start_and_wait(
        deployment, PipelineRequest(source="sample", as_of=date(2025, 12, 31)), execution_name="iam-killed"
    )
    assert stopped.status == "FAILED"
    config.set_kill_switch(False)
    read_broker_keys()


def split_a_held_position(deployment: Any, tmp_path: Path) -> None:
    """A held position, then the source restated by a 4:1 split: PaperTrade applies it to the account."""
    history = bars(D3)
    day1 = f"csv:{write_csv_dir(tmp_path / 'split-day1', {SYMBOL: history.loc[: pd.Timestamp(D2)]})}"
    day2 = f"csv:{write_csv_dir(tmp_path / 'split-day2', {SYMBOL: restated(history, 4.0)})}"
    for source, day, name in ((day1, D1, "iam-split-1"), (day2, D2, "iam-split-2")):
        request = PipelineRequest(source=source, symbols=[SYMBOL], as_of=day, strategy="ts_momentum")
        report = start_and_wait(deployment, request, execution_name=name)
        assert report.status == "SUCCEEDED", report.cause
        settle(report.output)


def run_executor_service(deployment: Any, archive: str) -> None:
    """The ECS service as executor/main.py builds it (CloudWatch metrics, prices from the archive): a slow
    first batch extends the visibility of the messages it has not reached; a stop during the second
    releases the messages it did not start."""
    from tradebot.clock import FixedClock
    from tradebot.execution.service import build_service

    settings = get_settings().model_copy(update={"data_source": archive})
    sqs = boto3.client("sqs", region_name=REGION)
    queue = deployment.refs["OrdersQueue"]
    order = order_message(
        Order(
            order_id=order_id_for("paper", LIVE_DAY, "AAA", "BUY"),
            run_id="iam-executor",
            account="paper",
            as_of=LIVE_DAY,
            symbol="AAA",
            side="BUY",
            quantity=1,
            reference_price=100.0,
            synthetic=False,
            created_at=datetime(2024, 7, 5, 21, tzinfo=UTC),
        )
    )["MessageBody"]
    for i in range(4):  # one order and its redeliveries (duplicates): each deleted once processed
        sqs.send_message(
            QueueUrl=queue, MessageBody=order, MessageGroupId="paper", MessageDeduplicationId=f"iam-{i}"
        )
    stop = threading.Event()
    clock = FixedClock(datetime(2024, 7, 8, 15, tzinfo=UTC))
    receives = {"n": 0}

    class Slow:
        """Batches of two; every delete takes 70 s of the clock (half the visibility timeout is 60 s); the
        second receive is where SIGTERM arrives."""

        def receive_message(self, **kwargs: Any) -> Any:
            receives["n"] += 1
            if receives["n"] >= 2:
                stop.set()
            return sqs.receive_message(**{**kwargs, "MaxNumberOfMessages": 2})

        def delete_message(self, **kwargs: Any) -> Any:
            clock.advance(70)
            return sqs.delete_message(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

    service = build_service(
        settings, clock=clock, sqs=Slow(), wait_time_seconds=0, stop=stop, sleep=lambda s: None
    )
    service.run(stop)
    assert receives["n"] == 2


def read_broker_keys() -> None:
    """execution.broker = "alpaca": the executor reads the broker's keys from the stack's secret."""
    from tradebot.execution.alpaca import AlpacaBroker

    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=get_settings().secret_arn,
        SecretString=json.dumps(
            {"broker_api_key": "k", "broker_api_secret": "s", "data_provider_api_key": ""}
        ),
    )
    AlpacaBroker.from_secret(get_settings().secret_arn)


# --- what the state machine, the scheduler and ECS do (from the template and the ASL) ---------------------


def _states(scope: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in scope.get("States", {}).values():
        found.append(state)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.extend(_states(processor))
    return found


def state_machine_uses(deployment: Any) -> set[Use]:
    template = load_template(TEMPLATE)
    machine = template["Resources"][STATE_MACHINE]["Properties"]
    substitutions = {name: value.value for name, value in machine["DefinitionSubstitutions"].items()}
    definition = json.loads((ROOT / machine["DefinitionUri"]).read_text())
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-trading-pipeline"
    bucket = "DataBucket"
    uses: set[Use] = set()

    def substituted(text: str) -> str:
        match = re.fullmatch(r"\$\{(\w+)\}", text)
        if not match:
            return text
        target = substitutions[match.group(1)]
        return target[0] if isinstance(target, list) else str(target)  # GetAtt [X, Arn] -> X; Ref X -> X

    for state in _states(definition):
        resource = state.get("Resource", "")
        if state.get("Type") == "Task" and resource.startswith("${"):
            uses.add(
                Use(
                    "lambda:InvokeFunction",
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{substituted(resource)}",
                )
            )
        elif resource == "arn:aws:states:::dynamodb:putItem":
            table = substituted(state["Parameters"]["TableName"])
            pk = state["Parameters"]["Item"]["pk"]
            leading = pk.get("S") or re.sub(r"States\.Format\('([^']*)'.*", r"\1", pk["S.$"]).replace(
                "{}", "*"
            )
            uses.add(
                Use(
                    "dynamodb:PutItem",
                    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
                    (("dynamodb:LeadingKeys", (leading,)),),
                )
            )
        elif resource:
            raise AssertionError(f"a Task resource the IAM test does not know: {resource}")
        if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            # a Distributed Map runs its children as executions of this state machine
            uses.add(Use("states:StartExecution", arn))
            execution = arn.replace(":stateMachine:", ":execution:") + "/iam"
            uses.add(Use("states:DescribeExecution", execution))
            uses.add(Use("states:StopExecution", execution))
            reader = state["ItemReader"]
            assert reader["Resource"] == "arn:aws:states:::s3:getObject"
            # the manifest's bucket and key come from FetchMarketData's output (the run's manifest object)
            manifest = deployment.iam_manifest
            uses.add(Use("s3:GetObject", f"arn:aws:s3:::{bucket}/{manifest['key']}"))
            writer = state["ResultWriter"]
            assert writer["Resource"] == "arn:aws:states:::s3:putObject"
            prefix = writer["Parameters"]["Prefix"]
            assert substituted(writer["Parameters"]["Bucket"]) == "DataBucket"
            # what Step Functions' ResultWriter needs (multipart upload of the results)
            for action in (
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            ):
                uses.add(Use(action, f"arn:aws:s3:::{bucket}/{prefix}/iam/manifest.json"))
    if machine.get("Logging", {}).get("Level", "OFF") != "OFF":
        # CloudWatch Logs delivery of the execution history (Step Functions' documented set; "*" only)
        for action in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        ):
            uses.add(Use(f"logs:{action}", "*"))
    if machine.get("Tracing", {}).get("Enabled"):
        uses |= {Use("xray:PutTraceSegments", "*"), Use("xray:PutTelemetryRecords", "*")}
        uses |= {Use("xray:GetSamplingRules", "*"), Use("xray:GetSamplingTargets", "*")}
    return uses


def scheduler_uses() -> set[Use]:
    machine = load_template(TEMPLATE)["Resources"][STATE_MACHINE]["Properties"]
    assert [e["Type"] for e in machine["Events"].values()] == ["ScheduleV2"]
    return {
        Use(
            "states:StartExecution",
            f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-trading-pipeline",
        )
    }


def execution_role_uses() -> set[Use]:
    """ECS pulls the executor's image (ECR, this account's repository) and ships its logs (awslogs)."""
    task = load_template(TEMPLATE)["Resources"]["ExecutorTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    repository = EXECUTOR_IMAGE.split("/", 1)[1].split(":", 1)[0]
    repository_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"
    options = container["LogConfiguration"]["Options"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    group = options["awslogs-group"].value  # !Ref ExecutorLogGroup
    stream = (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{options['awslogs-stream-prefix']}/x"
    )
    return {
        Use("ecr:GetAuthorizationToken", "*"),
        Use("ecr:BatchCheckLayerAvailability", repository_arn),
        Use("ecr:GetDownloadUrlForLayer", repository_arn),
        Use("ecr:BatchGetImage", repository_arn),
        Use("logs:CreateLogStream", stream),
        Use("logs:PutLogEvents", stream),
    }


# --- the comparison ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def granted() -> dict[str, list[Grant]]:
    return grants(TEMPLATE, PARAMETERS)


@pytest.fixture(scope="module")
def allowlist() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = yaml.safe_load(ALLOWLIST.read_text(encoding="utf-8"))
    return data


PRINCIPALS = [
    "FetchMarketDataFunctionRole",
    "OptimizeStrategyFunctionRole",
    "GenerateSignalsFunctionRole",
    "PaperTradeFunctionRole",
    STATE_MACHINE_ROLE,
    SCHEDULER_ROLE,
    EXECUTOR_ROLE,
    EXECUTION_ROLE,
]


def test_the_stack_has_exactly_these_principals(granted: dict[str, list[Grant]]) -> None:
    assert sorted(granted) == sorted(PRINCIPALS)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_every_call_is_granted(
    principal: str, recorded: dict[str, set[Use]], granted: dict[str, list[Grant]]
) -> None:
    uses = recorded.get(principal, set())
    assert uses, f"{principal}: the scenarios recorded no call (the recording is broken)"
    denied = sorted(
        f"{u.action} on {u.resource} {dict(u.conditions) or ''}"
        for u in uses
        if not any(g.allows(u) for g in granted[principal])
    )
    assert denied == [], f"{principal} makes calls its role does not grant:\n" + "\n".join(denied)


def unused_grants(principal: str, uses: set[Use], granted: list[Grant]) -> list[tuple[str, list[str]]]:
    """(action, resources) of each granted action no recorded use exercises through that statement."""
    unused = []
    for grant in granted:
        for action in grant.actions:
            if not any(u.action.lower() == action.lower() and grant.allows(u) for u in uses):
                unused.append((action, grant.resources))
    return unused


def allowlisted(entry: str, action: str, resources: list[str]) -> bool:
    """An allow-list key is "<action>" or "<action> <part of the resource>"."""
    name, _, resource = entry.partition(" ")
    return name.lower() == action.lower() and (not resource or any(resource in r for r in resources))


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_every_grant_is_used_or_allowed_with_a_reason(
    principal: str,
    recorded: dict[str, set[Use]],
    granted: dict[str, list[Grant]],
    allowlist: dict[str, dict[str, str]],
) -> None:
    reasons = allowlist.get(principal) or {}
    wildcards = [a for g in granted[principal] for a in g.actions if "*" in a]
    assert wildcards == [], f"{principal}: a wildcard action is never least privilege: {wildcards}"
    unexplained = [
        f"{action} on {resources}"
        for action, resources in unused_grants(principal, recorded.get(principal, set()), granted[principal])
        if not any(
            allowlisted(entry, action, resources) and str(why).strip() for entry, why in reasons.items()
        )
    ]
    assert unexplained == [], (
        f"{principal} is granted what nothing uses (remove it, or list it with the reason in "
        f"{ALLOWLIST.relative_to(ROOT)}):\n" + "\n".join(unexplained)
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_allowlist_names_only_grants_nothing_uses(
    principal: str,
    recorded: dict[str, set[Use]],
    granted: dict[str, list[Grant]],
    allowlist: dict[str, dict[str, str]],
) -> None:
    unused = unused_grants(principal, recorded.get(principal, set()), granted[principal])
    for entry in allowlist.get(principal) or {}:
        assert any(allowlisted(entry, action, resources) for action, resources in unused), (
            f"{principal}: the allow-list entry {entry!r} names no unused grant (used, or no longer granted)"
        )


def test_the_allowlist_names_only_principals_of_the_stack(allowlist: dict[str, dict[str, str]]) -> None:
    assert set(allowlist) <= set(PRINCIPALS)


def test_the_iam_table(recorded: dict[str, set[Use]], granted: dict[str, list[Grant]]) -> None:
    """principal, actions granted, actions used: for the review (.pytest_cache/iam-table.md)."""
    lines = ["| principal | actions granted | actions used |", "| --- | --- | --- |"]
    for principal in PRINCIPALS:
        used = sorted({u.action for u in recorded.get(principal, set())})
        grant_actions = sorted({a for g in granted[principal] for a in expand(g, [*used, *g.actions])})
        lines.append(f"| {principal} | {', '.join(grant_actions)} | {', '.join(used)} |")
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
