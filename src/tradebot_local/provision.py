"""Deploy template.yaml into the emulator: the same tables, bucket, queues, secret, functions, state machine.

Only what the local pipeline needs is created (no IAM policies, alarms, ECS or schedules: moto would accept
them but nothing local uses them). Names are the local stack's physical names; the functions'
environment is the template's Globals, resolved against them, exactly as CloudFormation would.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tradebot_local.cfn import load_template, resolve
from tradebot_local.emulator import ACCOUNT, REGION

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
STACK = "tradebot-local"


@dataclass
class LocalDeployment:
    template: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # Globals: what every function shares
    functions: dict[str, Path] = field(default_factory=dict)  # physical name -> CodeUri folder
    # physical name -> the environment the Lambda runtime gives that function (Globals, its own
    # variables, and the runtime's AWS_LAMBDA_* names)
    function_environments: dict[str, dict[str, str]] = field(default_factory=dict)
    state_machine_arn: str = ""

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}


def _dummy_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "# handlers run in-process; see tradebot_local.emulator\n")
    return buf.getvalue()


def table_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """create_table arguments (no TableName) of each AWS::DynamoDB::Table in the template, by logical id."""
    definitions: dict[str, dict[str, Any]] = {}
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = res["Properties"]
        kwargs: dict[str, Any] = {
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
                for gsi in props["GlobalSecondaryIndexes"]
            ]
        definitions[logical] = kwargs
    return definitions


def create_tables(dep: LocalDeployment) -> None:
    """The template's DynamoDB tables, named ``<stack>-<logical id>``."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    for logical, kwargs in table_definitions(dep.template).items():
        name = f"{STACK}-{logical}"
        ddb.create_table(TableName=name, **kwargs)
        dep.refs[logical] = name
        dep.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _create_buckets(dep: LocalDeployment) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for logical in dep.resources("AWS::S3::Bucket"):
        name = f"{STACK}-{logical}".lower()
        s3.create_bucket(Bucket=name)
        dep.refs[logical] = name
        dep.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"


def _create_queues(dep: LocalDeployment) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queues = dep.resources("AWS::SQS::Queue")
    for logical, res in queues.items():
        props = res.get("Properties", {})
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = f"{STACK}-{logical}" + (".fifo" if fifo else "")
        attributes: dict[Any, str] = {"FifoQueue": "true"} if fifo else {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        dep.refs[logical] = url
        dep.attrs[(logical, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        dep.attrs[(logical, "QueueName")] = name
    for logical, res in queues.items():  # second pass: dead-letter targets exist now
        redrive = res.get("Properties", {}).get("RedrivePolicy")
        if redrive:
            policy = resolve(redrive, dep.refs, dep.attrs)
            sqs.set_queue_attributes(
                QueueUrl=dep.refs[logical], Attributes={"RedrivePolicy": json.dumps(policy)}
            )


def _create_secrets(dep: LocalDeployment) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    for logical in dep.resources("AWS::SecretsManager::Secret"):
        # Empty JSON: locally no broker or data-provider key is needed, and none is ever stored here.
        arn = sm.create_secret(Name=f"{STACK}/{logical}", SecretString="{}")["ARN"]
        dep.refs[logical] = arn


def _environment(dep: LocalDeployment, properties: dict[str, Any] | None = None) -> dict[str, str]:
    """Globals' environment variables, then (with a function's ``properties``) that function's own."""
    globals_ = dep.template.get("Globals", {}).get("Function", {})
    variables = dict(globals_.get("Environment", {}).get("Variables", {}))
    if properties is not None:
        variables.update(properties.get("Environment", {}).get("Variables", {}))
    return {k: str(v) for k, v in resolve(variables, dep.refs, dep.attrs).items()}


def _function_environment(dep: LocalDeployment, logical: str) -> dict[str, str]:
    props = dep.template["Resources"][logical]["Properties"]
    memory = props.get(
        "MemorySize", dep.template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    )
    return {
        **_environment(dep, props),
        "AWS_LAMBDA_FUNCTION_NAME": dep.refs[logical],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
    }


def _create_functions(dep: LocalDeployment) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName=f"{STACK}-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = _dummy_zip()
    for logical, res in dep.resources("AWS::Serverless::Function").items():
        props = res["Properties"]
        arn = lam.create_function(
            FunctionName=logical,
            Runtime="python3.13",
            Role=role,
            Handler=props.get("Handler", "app.lambda_handler"),
            Code={"ZipFile": code},
        )["FunctionArn"]
        dep.refs[logical] = logical
        dep.attrs[(logical, "Arn")] = arn
        dep.functions[logical] = REPO_ROOT / str(props["CodeUri"])


def _create_state_machine(dep: LocalDeployment) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machines = dep.resources("AWS::Serverless::StateMachine")
    if len(machines) != 1:
        raise ValueError(
            f"expected one AWS::Serverless::StateMachine in template.yaml, found {len(machines)}"
        )
    logical, res = next(iter(machines.items()))
    props = res["Properties"]
    definition = (REPO_ROOT / str(props["DefinitionUri"])).read_text(encoding="utf-8")
    substitutions = resolve(props.get("DefinitionSubstitutions", {}), dep.refs, dep.attrs)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise KeyError(f"{props['DefinitionUri']}: ${{{name}}} is not in DefinitionSubstitutions")
        return str(substitutions[name])

    definition = re.sub(r"\$\{([A-Za-z0-9_]+)\}", substitute, definition)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName=f"{STACK}-states", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    dep.state_machine_arn = sfn.create_state_machine(
        name=f"{STACK}-{logical}", definition=definition, roleArn=role, type="STANDARD"
    )["stateMachineArn"]


def deploy(template_path: Path = TEMPLATE) -> LocalDeployment:
    """Create the template's resources in the (already started) emulator."""
    dep = LocalDeployment(template=load_template(template_path))
    for name, param in dep.template.get("Parameters", {}).items():
        if "Default" in param:
            dep.refs[name] = str(param["Default"])
    dep.refs.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK})
    create_tables(dep)
    _create_buckets(dep)
    _create_queues(dep)
    _create_secrets(dep)
    _create_functions(dep)
    dep.environment = _environment(dep)
    dep.function_environments = {
        dep.refs[logical]: _function_environment(dep, logical)
        for logical in dep.resources("AWS::Serverless::Function")
    }
    _create_state_machine(dep)
    return dep
