"""Least privilege, both sides: the AWS calls each principal's code makes, and what template.yaml grants it.

Calls: :class:`CallRecorder` wraps every botocore API call of the process and attributes it by the call
stack: a frame in ``functions/<name>/app.py`` is that Lambda (its SAM role ``<Function>Role``), a frame in
``tradebot/execution/`` with no handler is the executor (``ExecutorTaskRole``); anything else (the test,
the emulator, moto's own Step Functions interpreter) is nobody's. Each call becomes IAM actions on a
resource written as an ARN with the logical id in place of the physical name (``table/LedgerTable``), plus
the condition keys IAM would evaluate (``dynamodb:LeadingKeys``, ``s3:prefix``, ``cloudwatch:namespace``).

Grants: template.yaml translated offline by samtranslator (the roles SAM creates, policy templates
expanded), then each role's policy documents resolved to the same ARN form; the AWS managed policies SAM
attaches are expanded from :data:`MANAGED_POLICIES`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.client

from tradebot_local.cfn import CfnTag, load_template

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "tradebot"
EXECUTOR_ROLE = "ExecutorTaskRole"
EXECUTOR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tradebot-executor:test"

# The AWS managed policies SAM attaches (their actions, as AWS publishes them).
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        ("logs:CreateLogGroup", "*"),
        ("logs:CreateLogStream", "*"),
        ("logs:PutLogEvents", "*"),
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("xray:GetSamplingRules", "*"),
        ("xray:GetSamplingTargets", "*"),
        ("xray:GetSamplingStatisticSummaries", "*"),
    ],
}

# botocore's service names whose IAM prefix differs
IAM_PREFIX = {"stepfunctions": "states"}
# operations whose IAM action is not "<prefix>:<Operation>"
ACTIONS = {
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("s3", "ListObjects"): ["s3:ListBucket"],
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "HeadBucket"): ["s3:ListBucket"],
    ("s3", "DeleteObjects"): ["s3:DeleteObject"],
    ("s3", "CreateMultipartUpload"): ["s3:PutObject"],
    ("s3", "UploadPart"): ["s3:PutObject"],
    ("s3", "CompleteMultipartUpload"): ["s3:PutObject"],
    ("sqs", "SendMessageBatch"): ["sqs:SendMessage"],
    ("sqs", "DeleteMessageBatch"): ["sqs:DeleteMessage"],
    ("sqs", "ChangeMessageVisibilityBatch"): ["sqs:ChangeMessageVisibility"],
}
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


@dataclass(frozen=True)
class Use:
    """One IAM action on one resource, with the condition values IAM would see."""

    action: str
    resource: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def condition(self, key: str) -> tuple[str, ...] | None:
        return dict(self.conditions).get(key)


@dataclass
class Grant:
    """One Allow statement: actions (patterns), resources (patterns), and its condition block."""

    role: str
    actions: list[str]
    resources: list[str]
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def allows(self, use: Use) -> bool:
        if not any(fnmatch.fnmatchcase(use.action.lower(), a.lower()) for a in self.actions):
            return False
        if not any(fnmatch.fnmatchcase(use.resource, r) for r in self.resources):
            return False
        return all(_condition_holds(op, values, use) for op, values in self.conditions.items())


def _condition_holds(operator: str, values: dict[str, Any], use: Use) -> bool:
    for key, expected in values.items():
        patterns = expected if isinstance(expected, list) else [expected]
        seen = use.condition(key)
        if seen is None:
            return False  # the call does not carry the key: IAM would not match the condition
        like = operator.endswith("StringLike")
        matched = [any(fnmatch.fnmatchcase(v, p) if like else v == p for p in patterns) for v in seen]
        if not matched or not all(matched):
            return False
    return True


# --- recording -------------------------------------------------------------------------------------------


class CallRecorder:
    """Every botocore call of the process while recording, attributed to a principal by the call stack."""

    def __init__(self, names: dict[str, str], functions: dict[str, str]) -> None:
        self._names = names  # physical name / URL / ARN -> logical id
        self._functions = (
            functions  # functions/<folder> -> the function's role (e.g. FetchMarketDataFunctionRole)
        )
        self.uses: dict[str, set[Use]] = {}
        self._local = threading.local()  # a pool thread's principal: the one that submitted its work

    @contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        original = botocore.client.BaseClient._make_api_call
        recorder = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            principal = recorder._principal()
            if principal is not None:
                service = client.meta.service_model.service_name
                for use in recorder._uses(service, operation, params):
                    recorder.uses.setdefault(principal, set()).add(use)
            return original(client, operation, params)

        submit = ThreadPoolExecutor.submit

        def submit_as_the_caller(pool: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            principal = recorder._principal()

            def run(*a: Any, **k: Any) -> Any:
                recorder._local.principal = principal
                try:
                    return fn(*a, **k)
                finally:
                    recorder._local.principal = None

            return submit(pool, run, *args, **kwargs)

        with (
            mock.patch.object(botocore.client.BaseClient, "_make_api_call", make_api_call),
            mock.patch.object(ThreadPoolExecutor, "submit", submit_as_the_caller),
        ):
            yield self

    def _principal(self) -> str | None:
        inherited: str | None = getattr(self._local, "principal", None)
        if inherited is not None:
            return inherited
        frame = sys._getframe(2)
        executor = False
        while frame is not None:
            filename = frame.f_code.co_filename
            match = re.search(r"[/\\]functions[/\\]([a-z_]+)[/\\]app\.py$", filename)
            if match and match.group(1) in self._functions:
                return self._functions[match.group(1)]
            if f"{os.sep}tradebot{os.sep}execution{os.sep}" in filename:
                executor = True
            frame = frame.f_back  # type: ignore[assignment]
        return EXECUTOR_ROLE if executor else None

    def _logical(self, physical: str) -> str:
        return self._names.get(physical, physical)

    def _uses(self, service: str, operation: str, params: dict[str, Any]) -> list[Use]:
        prefix = IAM_PREFIX.get(service, service)
        if service == "dynamodb":
            return self._dynamodb(operation, params)
        actions = ACTIONS.get((service, operation), [f"{prefix}:{operation}"])
        resource, conditions = self._resource(service, params)
        return [Use(action, resource, conditions) for action in actions]

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> list[Use]:
        if operation in ("TransactWriteItems", "TransactGetItems"):
            uses = []
            for item in params["TransactItems"]:
                (kind, body), *_ = item.items()
                uses.append(self._table_use(TRANSACT_ACTIONS[kind], body))
            return uses
        if operation in ("BatchGetItem", "BatchWriteItem"):
            uses = []
            for table, requests in params["RequestItems"].items():
                keys = (
                    requests["Keys"]
                    if operation == "BatchGetItem"
                    else [
                        (r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key"))
                        for r in requests
                    ]
                )
                leading = tuple(sorted({k["pk"]["S"] for k in keys if "pk" in k}))
                uses.append(Use(f"dynamodb:{operation}", self._table_arn(table), _leading(leading)))
            return uses
        return [self._table_use(f"dynamodb:{operation}", params)]

    def _table_use(self, action: str, body: dict[str, Any]) -> Use:
        key = body.get("Key") or body.get("Item") or {}
        leading: tuple[str, ...] = ()
        if "pk" in key:
            leading = (key["pk"]["S"],)
        values = body.get("ExpressionAttributeValues") or {}
        condition = body.get("KeyConditionExpression") or ""
        for name, value in values.items():
            if re.search(rf"\bpk\s*=\s*{re.escape(name)}\b", condition) and "S" in value:
                leading = (value["S"],)
        resource = self._table_arn(body["TableName"])
        if body.get("IndexName"):
            resource += f"/index/{body['IndexName']}"
            leading = ()  # LeadingKeys is the table's partition key; an index query carries none
        return Use(action, resource, _leading(leading) if leading else ())

    def _table_arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self._logical(table)}"

    def _resource(
        self, service: str, params: dict[str, Any]
    ) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
        if service == "s3":
            bucket = self._logical(params["Bucket"])
            if "Key" in params:
                return f"arn:aws:s3:::{bucket}/{params['Key']}", ()
            prefix = params.get("Prefix")
            return f"arn:aws:s3:::{bucket}", ((("s3:prefix", (prefix,)),) if prefix is not None else ())
        if service == "sqs" and "QueueUrl" in params:
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self._logical(params['QueueUrl'])}", ()
        if service == "secretsmanager":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{self._logical(params['SecretId'])}", ()
        if service == "cloudwatch" and "Namespace" in params:
            return "*", (("cloudwatch:namespace", (params["Namespace"],)),)
        return "*", ()


def _leading(keys: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (("dynamodb:LeadingKeys", keys),) if keys else ()


# --- the template's grants -------------------------------------------------------------------------------


def _long_form(value: Any) -> Any:
    if isinstance(value, CfnTag):
        if value.name in ("Ref", "Condition"):
            return {value.name: _long_form(value.value)}
        return {f"Fn::{value.name}": _long_form(value.value)}
    if isinstance(value, dict):
        return {k: _long_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_long_form(v) for v in value]
    return value


def translated_template(template_path: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """template.yaml as CloudFormation: SAM's transform, offline (local paths replaced by S3 placeholders)."""
    from samtranslator.translator.transform import transform

    template = _long_form(load_template(template_path))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://bucket/layer.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = json.loads(
                (template_path.parent / properties.pop("DefinitionUri")).read_text()
            )

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        return transform(template, parameters, NoManagedPolicies())  # type: ignore[no-any-return]


class Resolver:
    """Intrinsic functions -> strings: a resource's name is its logical id, its ARN built from it."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any]) -> None:
        self._resources = template["Resources"]
        self._parameters = {
            name: parameters.get(name, spec.get("Default", ""))
            for name, spec in template.get("Parameters", {}).items()
        }
        self._conditions = template.get("Conditions", {})
        self._pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        kind = self._resources[name]["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-trading-pipeline"
        return name

    def get_att(self, name: str, attribute: str) -> str:
        kind = self._resources[name]["Type"]
        if attribute == "QueueName":
            return name
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::StepFunctions::StateMachine": self.ref(name),
        }
        if attribute != "Arn" or kind not in arns:
            raise ValueError(f"cannot resolve !GetAtt {name}.{attribute}")
        return arns[kind]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self._conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value if v != {"Ref": "AWS::NoValue"}]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.resolve(v) for k, v in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        return self.get_att(*name.split(".", 1))
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}


def grants(template_path: Path, parameters: dict[str, Any]) -> dict[str, list[Grant]]:
    """Each IAM role of the deployed stack -> its Allow statements (managed policies expanded)."""
    translated = translated_template(template_path, parameters)
    resolver = Resolver(translated, parameters)
    found: dict[str, list[Grant]] = {}
    for role, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resolver.resolve(resource["Properties"])
        role_grants = found.setdefault(role, [])
        for arn in properties.get("ManagedPolicyArns", []):
            for action, target in MANAGED_POLICIES[arn]:
                role_grants.append(Grant(role, [action], [target]))
        for policy in properties.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                role_grants.append(
                    Grant(role, actions, [str(r) for r in resources], statement.get("Condition", {}))
                )
    return found


def expand(grant: Grant, actions: list[str]) -> list[str]:
    """The concrete actions of ``grant`` among ``actions`` (a wildcard grant names several)."""
    return sorted({a for a in actions for p in grant.actions if fnmatch.fnmatchcase(a.lower(), p.lower())})
