"""template.yaml and the state machine's ASL agree with each other and with the code (offline, no SAM CLI).

cfn-lint (`make validate`) checks the template against CloudFormation's schemas but reads neither the ASL
file nor the Python code: the cross-file contracts are checked here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tradebot.settings import Settings
from tradebot_local.cfn import CfnTag, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "trading_pipeline.asl.json"

# Environment variables of the runtime that are not tradebot settings.
RUNTIME_TUNING_ENV = {"OPENBLAS_NUM_THREADS", "AWS_DEFAULT_REGION", "EXECUTOR_WAIT_SECONDS"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def state_machine(template: dict[str, Any]) -> dict[str, Any]:
    machines = resources_of_type(template, "AWS::Serverless::StateMachine")
    assert list(machines) == ["TradingPipelineStateMachine"]
    return machines["TradingPipelineStateMachine"]["Properties"]


@pytest.fixture(scope="module")
def asl_text() -> str:
    if not ASL.exists():
        pytest.skip(f"{ASL.relative_to(ROOT)} not written yet")
    return ASL.read_text(encoding="utf-8")


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == resource_type}


def intrinsic(value: Any) -> tuple[str, Any] | None:
    """("Ref", "X") for `!Ref X`, ("GetAtt", ["X", "Arn"]) for `!GetAtt X.Arn`, ...; None for a literal."""
    if isinstance(value, CfnTag):
        return value.name, value.value
    return None


def settings_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def cfn_path(value: Any, root: Path = ROOT) -> Path:
    assert isinstance(value, str), f"expected a local path, got {value!r}"
    return root / value


# ------------------------------------------------------------------ template <-> code


def test_definition_uri_is_the_asl_file(state_machine: dict[str, Any]) -> None:
    assert cfn_path(state_machine["DefinitionUri"]) == ASL


def test_every_function_code_uri_exists_with_a_handler(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "FetchMarketDataFunction",
        "OptimizeStrategyFunction",
        "GenerateSignalsFunction",
        "PaperTradeFunction",
    }
    handler = template["Globals"]["Function"]["Handler"]
    module = handler.split(".")[0]
    for logical_id, function in functions.items():
        code = cfn_path(function["Properties"]["CodeUri"])
        assert code.is_dir(), f"{logical_id}: CodeUri {code} does not exist"
        assert (code / f"{module}.py").is_file(), f"{logical_id}: no {module}.py for handler {handler}"
        assert (code / "requirements.txt").is_file(), f"{logical_id}: sam build expects requirements.txt"


def test_layers_are_built_by_their_makefiles(template: dict[str, Any]) -> None:
    """Each layer is built by its folder's Makefile (sam build's BuildMethod: makefile runs
    `make build-<LogicalId>`), which runs scripts/build_layer.py: the recipe bench/cold_start.py --built
    reuses for its twin."""
    layers = resources_of_type(template, "AWS::Serverless::LayerVersion")
    assert set(layers) == {"TradebotLayer", "FetchLayer"}
    for logical_id, layer in layers.items():
        content = cfn_path(layer["Properties"]["ContentUri"])
        assert (content / "requirements.txt").is_file(), logical_id
        makefile = (content / "Makefile").read_text(encoding="utf-8")
        assert f"build-{logical_id}:" in makefile, f"{logical_id}: no make target for sam build"
        assert "scripts/build_layer.py" in makefile and "$(ARTIFACTS_DIR)/python" in makefile, logical_id
        assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert (
        cfn_path(layers["TradebotLayer"]["Properties"]["ContentUri"]) / "tradebot" / "__init__.py"
    ).is_file()
    assert (
        "--without" in (cfn_path(layers["FetchLayer"]["Properties"]["ContentUri"]) / "Makefile").read_text()
    )


def test_only_the_fetch_function_carries_the_fetch_layer(template: dict[str, Any]) -> None:
    """yfinance and curl_cffi (the fetch layer) only where Yahoo is read; every function lists its layers."""
    assert "Layers" not in template["Globals"]["Function"]
    functions = resources_of_type(template, "AWS::Serverless::Function")
    layers = {name: [intrinsic(ref) for ref in f["Properties"]["Layers"]] for name, f in functions.items()}
    assert layers == {
        "FetchMarketDataFunction": [("Ref", "TradebotLayer"), ("Ref", "FetchLayer")],
        "OptimizeStrategyFunction": [("Ref", "TradebotLayer")],
        "GenerateSignalsFunction": [("Ref", "TradebotLayer")],
        "PaperTradeFunction": [("Ref", "TradebotLayer")],
    }
    base = (ROOT / "layers" / "tradebot" / "requirements.txt").read_text(encoding="utf-8").lower()
    assert "yfinance" not in base and "curl" not in base
    assert "yfinance" in (ROOT / "layers" / "fetch" / "requirements.txt").read_text(encoding="utf-8")


def test_lambda_environment_is_exactly_the_settings(template: dict[str, Any]) -> None:
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    app_variables = {name for name in variables if not name.startswith("POWERTOOLS_")} - RUNTIME_TUNING_ENV
    assert app_variables == settings_env_names()
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= variables


def test_executor_gets_the_same_settings(template: dict[str, Any]) -> None:
    task = template["Resources"]["ExecutorTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    names = {entry["Name"] for entry in container["Environment"]}
    app_variables = {name for name in names if not name.startswith("POWERTOOLS_")} - RUNTIME_TUNING_ENV
    assert app_variables == settings_env_names()
    assert "EXECUTOR_WAIT_SECONDS" in names
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}


def test_every_function_has_a_log_group_with_retention_and_an_error_alarm(template: dict[str, Any]) -> None:
    log_groups = [r["Properties"] for r in resources_of_type(template, "AWS::Logs::LogGroup").values()]
    alarms = [r["Properties"] for r in resources_of_type(template, "AWS::CloudWatch::Alarm").values()]
    assert all("RetentionInDays" in group for group in log_groups)
    log_group_names = [intrinsic(group["LogGroupName"]) for group in log_groups]
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        assert ("Sub", f"/aws/lambda/${{{logical_id}}}") in log_group_names, f"{logical_id} has no log group"
        assert any(
            a["MetricName"] == "Errors" and intrinsic(a["Dimensions"][0]["Value"]) == ("Ref", logical_id)
            for a in alarms
        ), f"{logical_id} has no Errors alarm"


def test_every_metric_the_code_puts_has_an_alarm_on_it(template: dict[str, Any]) -> None:
    """The executor's heartbeat and failed price lookups, and reconcile's parity differences, are watched
    by alarms on the namespace, name and dimension the code puts them with."""
    from tradebot.execution.service import (
        HEARTBEAT_METRIC,
        HEARTBEAT_NAMESPACE,
        PRICE_LOOKUP_FAILURES_METRIC,
    )
    from tradebot_local.cli.replay import PARITY_METRIC, PARITY_NAMESPACE

    container = resources_of_type(template, "AWS::ECS::TaskDefinition")["ExecutorTaskDefinition"]
    environment = container["Properties"]["ContainerDefinitions"][0]["Environment"]
    service = next(e["Value"] for e in environment if e["Name"] == "POWERTOOLS_SERVICE_NAME")
    alarms = {
        (a["Namespace"], a["MetricName"]): a
        for a in (r["Properties"] for r in resources_of_type(template, "AWS::CloudWatch::Alarm").values())
        if "Namespace" in a
    }
    assert PARITY_NAMESPACE == HEARTBEAT_NAMESPACE
    for metric in (HEARTBEAT_METRIC, PRICE_LOOKUP_FAILURES_METRIC, PARITY_METRIC):
        alarm = alarms[(HEARTBEAT_NAMESPACE, metric)]
        assert {"Name": "service", "Value": service} in alarm["Dimensions"], metric
    lookups = alarms[(HEARTBEAT_NAMESPACE, PRICE_LOOKUP_FAILURES_METRIC)]
    assert (lookups["Statistic"], lookups["Threshold"], lookups["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )


# ------------------------------------------------------------------ data resources


def test_tables_have_pitr_sse_and_on_demand_billing(template: dict[str, Any]) -> None:
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"ConfigTable", "StateTable", "LedgerTable", "IdempotencyTable"}
    for logical_id, table in tables.items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            logical_id
        )
        assert properties["SSESpecification"]["SSEEnabled"] is True, logical_id


def test_the_trading_record_survives_the_stack(template: dict[str, Any]) -> None:
    """The config, state and ledger tables, the data bucket and the secret are retained on a stack delete
    and on a replacement; the rest is deleted with the stack, explicitly (the queues are transport: every
    queued order is in the ledger)."""
    resources = template["Resources"]
    retained = {"ConfigTable", "StateTable", "LedgerTable", "DataBucket", "BrokerSecret"}
    for logical_id in retained:
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id
    for logical_id in ("IdempotencyTable", "OrdersQueue", "OrdersDLQ"):
        assert resources[logical_id]["DeletionPolicy"] == "Delete", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Delete", logical_id
    stateful = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"}
    undecided = [k for k, r in resources.items() if r["Type"] in stateful and "DeletionPolicy" not in r]
    assert undecided == []


def test_the_executor_runs_on_fargate_spot_arm64(template: dict[str, Any]) -> None:
    """FARGATE_SPOT accepts Linux ARM64 tasks on platform version 1.4.0 or later (ECS API reference,
    CapacityProviderStrategyItem); the service asks for the latest platform (1.4.0)."""
    parameter = template["Parameters"]["ExecutorCapacityProvider"]
    assert parameter["Default"] == "FARGATE_SPOT"
    task = template["Resources"]["ExecutorTaskDefinition"]["Properties"]
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    service = template["Resources"]["ExecutorService"]["Properties"]
    assert service["PlatformVersion"] == "LATEST"
    assert intrinsic(service["CapacityProviderStrategy"][0]["CapacityProvider"]) == (
        "Ref",
        "ExecutorCapacityProvider",
    )


def test_table_keys_are_plain_cloudformation(template: dict[str, Any]) -> None:
    """The local emulator creates the tables in moto from exactly these properties."""
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    for logical_id in ("ConfigTable", "StateTable", "LedgerTable"):
        keys = tables[logical_id]["Properties"]["KeySchema"]
        assert keys == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
    ledger = tables["LedgerTable"]["Properties"]
    (index,) = ledger["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "as_of", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    for logical_id, table in tables.items():
        properties = table["Properties"]
        defined = {a["AttributeName"] for a in properties["AttributeDefinitions"]}
        used = {k["AttributeName"] for k in properties["KeySchema"]}
        for gsi in properties.get("GlobalSecondaryIndexes", []):
            used |= {k["AttributeName"] for k in gsi["KeySchema"]}
        assert defined == used, f"{logical_id}: AttributeDefinitions must list exactly the key attributes"
    idempotency = tables["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_orders_queue_is_fifo_with_a_fifo_dead_letter_queue(template: dict[str, Any]) -> None:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    orders = queues["OrdersQueue"]["Properties"]
    assert orders["FifoQueue"] is True
    assert orders["ContentBasedDeduplication"] is False  # the app sets MessageDeduplicationId = order id
    assert intrinsic(orders["RedrivePolicy"]["deadLetterTargetArn"]) == ("GetAtt", ["OrdersDLQ", "Arn"])
    assert orders["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queues["OrdersDLQ"]["Properties"]["FifoQueue"] is True
    assert all(queue["Properties"]["SqsManagedSseEnabled"] is True for queue in queues.values())


def test_bucket_is_private_and_encrypted(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["DataBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policy = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and "aws:SecureTransport" in str(s["Condition"]) for s in policy["Statement"]
    )


def test_secret_holds_no_value(template: dict[str, Any]) -> None:
    secret = template["Resources"]["BrokerSecret"]["Properties"]
    value = json.loads(secret["SecretString"])
    assert all(field == "" for field in value.values()), "the real value is set by hand after deploy"


# ------------------------------------------------------------------ template <-> ASL


def test_substitutions_match_the_asl_placeholders(state_machine: dict[str, Any], asl_text: str) -> None:
    placeholders = set(PLACEHOLDER.findall(asl_text))
    substitutions = set(state_machine["DefinitionSubstitutions"])
    assert placeholders - substitutions == set(), "placeholders without a DefinitionSubstitution"
    assert substitutions - placeholders == set(), "DefinitionSubstitutions the ASL never uses"


def test_function_arn_substitutions_point_at_functions_with_code(
    template: dict[str, Any], state_machine: dict[str, Any]
) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    invoked = set()
    for name, value in state_machine["DefinitionSubstitutions"].items():
        tag = intrinsic(value)
        if tag and tag[0] == "GetAtt":
            resource, attribute = tag[1]
            assert attribute == "Arn", name
            assert resource in functions, f"{name}: {resource} is not an AWS::Serverless::Function"
            assert (cfn_path(functions[resource]["Properties"]["CodeUri"]) / "app.py").is_file()
            invoked.add(resource)
    assert invoked == set(functions), "every function is invoked by the state machine"
    policies = state_machine["Policies"]
    invoke_policies = [p["LambdaInvokePolicy"] for p in policies if "LambdaInvokePolicy" in p]
    allowed = {intrinsic(policy["FunctionName"]) for policy in invoke_policies}
    assert allowed == {("Ref", name) for name in invoked}


def test_asl_is_well_formed(asl_text: str) -> None:
    definition = json.loads(asl_text)
    assert asl_problems(definition) == []


# ------------------------------------------------------------------ structural ASL rules (any ASL file)

STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
TERMINAL_TYPES = {"Succeed", "Fail"}


def asl_problems(definition: dict[str, Any]) -> list[str]:
    """Every rule this project's state machines must follow; an empty list means none is broken.

    JSONPath only (the emulator cannot run JSONata); every transition target exists and every state is
    reachable; every Task retries and catches (a Task inside a Map/Parallel may rely on that state's
    Catch); every Lambda task retries RetryableError (tradebot/errors.py); States.ALL comes alone and last.
    """
    problems = [f"{where}: JSONata is not allowed (JSONPath only)" for where in _jsonata_uses(definition, "")]
    _check_scope(definition, "", enclosing_catch=False, problems=problems)
    return problems


def _jsonata_uses(node: Any, where: str) -> list[str]:
    """Where a QueryLanguage of JSONata or a {% ... %} expression appears (comments may name JSONata)."""
    if isinstance(node, str):
        return [where or "<root>"] if node.strip().startswith("{%") else []
    if isinstance(node, list):
        return [hit for index, item in enumerate(node) for hit in _jsonata_uses(item, f"{where}[{index}]")]
    if isinstance(node, dict):
        hits = [where or "<root>"] if node.get("QueryLanguage") == "JSONata" else []
        return hits + [hit for key, value in node.items() for hit in _jsonata_uses(value, f"{where}/{key}")]
    return []


def _check_scope(scope: dict[str, Any], where: str, *, enclosing_catch: bool, problems: list[str]) -> None:
    states = scope.get("States")
    if not isinstance(states, dict) or not states:
        problems.append(f"{where or '<root>'}: no States")
        return
    start = scope.get("StartAt")
    if start not in states:
        problems.append(f"{where or '<root>'}: StartAt {start!r} is not a state")
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        path = f"{where}{name}"
        edges[name] = _check_state(path, state, set(states), enclosing_catch, problems)
    reachable, frontier = set(), [start]
    while frontier:
        name = frontier.pop()
        if name in states and name not in reachable:
            reachable.add(name)
            frontier.extend(edges[name])
    for name in states:
        if name not in reachable:
            problems.append(f"{where}{name}: unreachable from StartAt")


def _check_state(
    path: str, state: dict[str, Any], names: set[str], enclosing_catch: bool, problems: list[str]
) -> set[str]:
    kind = state.get("Type")
    if kind not in STATE_TYPES:
        problems.append(f"{path}: unknown Type {kind!r}")
        return set()
    targets = set()
    if kind == "Choice":
        targets |= {choice.get("Next") for choice in state.get("Choices", [])}
        if "Default" in state:
            targets.add(state["Default"])
        if not state.get("Choices"):
            problems.append(f"{path}: Choice without Choices")
    elif kind not in TERMINAL_TYPES:
        has_next, has_end = "Next" in state, state.get("End") is True
        if has_next == has_end:
            problems.append(f"{path}: needs exactly one of Next or End: true")
        if has_next:
            targets.add(state["Next"])
    for clause in ("Retry", "Catch"):
        for rule in state.get(clause, []):
            errors = rule.get("ErrorEquals") or []
            if not errors:
                problems.append(f"{path}: {clause} rule without ErrorEquals")
            if "States.ALL" in errors and (len(errors) > 1 or rule is not state[clause][-1]):
                problems.append(f"{path}: States.ALL must be alone in the last {clause} rule")
    targets |= {catch.get("Next") for catch in state.get("Catch", [])}
    for target in targets:
        if target not in names:
            problems.append(f"{path}: transition to missing state {target!r}")

    if kind == "Task":
        if not state.get("Retry"):
            problems.append(f"{path}: Task without Retry")
        if not state.get("Catch") and not enclosing_catch:
            problems.append(f"{path}: Task without Catch")
        if _invokes_lambda(state) and not any(
            "RetryableError" in rule.get("ErrorEquals", []) for rule in state.get("Retry", [])
        ):
            problems.append(f"{path}: Lambda task does not retry RetryableError")
    if kind == "Map":
        if "MaxConcurrency" in state and not isinstance(state["MaxConcurrency"], int):
            problems.append(
                f"{path}: MaxConcurrency must be a JSON integer (use MaxConcurrencyPath otherwise)"
            )
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is None:
            problems.append(f"{path}: Map without ItemProcessor")
        else:
            _check_scope(
                processor,
                f"{path}/",
                enclosing_catch=enclosing_catch or bool(state.get("Catch")),
                problems=problems,
            )
    if kind == "Parallel":
        for index, branch in enumerate(state.get("Branches", [])):
            _check_scope(
                branch,
                f"{path}[{index}]/",
                enclosing_catch=enclosing_catch or bool(state.get("Catch")),
                problems=problems,
            )
    return targets


def _invokes_lambda(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return (
        ":lambda:" in resource
        or resource.startswith("arn:aws:states:::lambda:invoke")
        or (resource.startswith("${") and resource.endswith("FunctionArn}"))
    )


# ------------------------------------------------------------------ the rules catch what they claim to


def _task(**extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "${AFunctionArn}",
        "Retry": [{"ErrorEquals": ["RetryableError"]}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        **extra,
    }


def _machine(**states: Any) -> dict[str, Any]:
    return {"StartAt": "A", "States": {**states, "Failed": {"Type": "Fail"}}}


def test_asl_rules_accept_a_minimal_machine() -> None:
    assert asl_problems(_machine(A=_task(End=True))) == []


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (_machine(A=_task(Next="Nowhere")), "transition to missing state 'Nowhere'"),
        (_machine(A=_task()), "needs exactly one of Next or End"),
        (_machine(A={**_task(End=True), "Retry": []}), "Task without Retry"),
        (_machine(A={**_task(End=True), "Catch": []}), "Task without Catch"),
        (
            _machine(A={**_task(End=True), "Retry": [{"ErrorEquals": ["States.ALL"]}]}),
            "does not retry RetryableError",
        ),
        (_machine(A=_task(End=True), B={"Type": "Succeed"}), "B: unreachable"),
        ({**_machine(A=_task(End=True)), "QueryLanguage": "JSONata"}, "JSONata is not allowed"),
        (_machine(A={"Type": "Pass", "Parameters": {"x": "{% $states.input %}"}, "End": True}), "JSONata"),
        (
            _machine(
                A={
                    "Type": "Map",
                    "MaxConcurrency": "${N}",
                    "End": True,
                    "ItemProcessor": {"StartAt": "T", "States": {"T": _task(End=True)}},
                }
            ),
            "MaxConcurrency must be a JSON integer",
        ),
        (
            _machine(
                A={
                    "Type": "Map",
                    "End": True,
                    "ItemProcessor": {"StartAt": "T", "States": {"T": {**_task(End=True), "Catch": []}}},
                }
            ),
            "A/T: Task without Catch",
        ),
    ],
)
def test_asl_rules_reject(definition: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in asl_problems(definition)), asl_problems(definition)


def test_a_task_inside_a_map_may_rely_on_the_maps_catch() -> None:
    inner = {"StartAt": "T", "States": {"T": {**_task(End=True), "Catch": []}}}
    definition = _machine(
        A={
            "Type": "Map",
            "ItemProcessor": inner,
            "End": True,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        }
    )
    assert asl_problems(definition) == []
