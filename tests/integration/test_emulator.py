"""The moto internal that local runs rely on. If moto changes, this fails loudly (moto is pinned exactly)."""

import json

import boto3
import pytest

from tradebot.errors import RetryableError
from tradebot_local.emulator import LambdaDispatcher, emulated_aws
from tradebot_local.runner import wait_for_execution

ASL = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "FN_ARN",
            "Retry": [
                {"ErrorEquals": ["RetryableError"], "IntervalSeconds": 30, "MaxAttempts": 2, "BackoffRate": 2}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "End": True,
        },
        "Failed": {"Type": "Pass", "End": True},
    },
}


def _run(handler, payload):
    with emulated_aws(LambdaDispatcher()) as dispatcher:
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = boto3.client("lambda").create_function(
            FunctionName="work", Runtime="python3.13", Role=role, Handler="app.h", Code={"ZipFile": b"x"}
        )["FunctionArn"]
        dispatcher.register("work", handler)
        sfn = boto3.client("stepfunctions")
        definition = json.dumps(ASL).replace("FN_ARN", arn)
        machine = sfn.create_state_machine(name="m", definition=definition, roleArn=role)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="e1", input=json.dumps(payload))
        desc = wait_for_execution(sfn, execution["executionArn"], timeout_s=30)
        return desc, dispatcher


def test_task_runs_the_in_process_handler():
    desc, dispatcher = _run(
        lambda event, context: {"doubled": event["x"] * 2, "fn": context.function_name}, {"x": 21}
    )
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"doubled": 42, "fn": "work"}
    assert [i.function for i in dispatcher.invocations] == ["work"]


def test_handler_exception_is_a_function_error_named_by_its_class():
    def boom(event, context):
        raise ValueError("bad input")

    desc, _ = _run(boom, {})
    output = json.loads(desc["output"])
    assert output["error"]["Error"] == "ValueError"
    assert "bad input" in output["error"]["Cause"]


def test_retry_matches_the_class_name_and_does_not_sleep():
    calls = []

    def flaky(event, context):
        calls.append(1)
        if len(calls) == 1:
            raise RetryableError("429 from the data provider")
        return {"ok": True}

    desc, dispatcher = _run(flaky, {})
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"ok": True}
    assert len(calls) == 2
    assert dispatcher.retry_waits == [30], "the Retry interval is recorded, not slept"


@pytest.mark.parametrize("name", ["invoke"])
def test_hooked_method_still_exists_with_the_expected_signature(name):
    import inspect

    from moto.awslambda_simple.models import LambdaSimpleBackend

    params = list(inspect.signature(getattr(LambdaSimpleBackend, name)).parameters)
    assert params == ["self", "function_name", "qualifier", "body", "headers", "response_headers"]
