"""The emulator, and a guard test per moto internal it relies on (tradebot_local.emulator's module doc lists
them): if moto changes one, its guard fails loudly, naming it (moto is pinned exactly)."""

import inspect
import json
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from tradebot.errors import RetryableError
from tradebot_local.emulator import (
    LambdaDispatcher,
    SerializedDynamoDB,
    emulated_aws,
    instant_retries,
    start_server,
)
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
    from moto.awslambda_simple.models import LambdaSimpleBackend

    params = list(inspect.signature(getattr(LambdaSimpleBackend, name)).parameters)
    assert params == ["self", "function_name", "qualifier", "body", "headers", "response_headers"], (
        f"moto.awslambda_simple.models.LambdaSimpleBackend.{name} changed (tradebot_local.emulator."
        f"dispatch_lambdas replaces it): {params}"
    )


# --- moto internal: retrier_decl.time (instant_retries) ----------------------------------------------------


def test_retrier_sleeps_through_its_module_attribute_time():
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    internal = (
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time "
        "(replaced by tradebot_local.emulator.instant_retries)"
    )
    assert getattr(retrier_decl, "time", None) is time, f"{internal}: the module no longer imports `time`"
    body = inspect.getsource(retrier_decl.RetrierDecl._eval_body)
    assert "time.sleep(" in body, f"{internal}: RetrierDecl._eval_body no longer waits with time.sleep"
    requested: list[float] = []
    with instant_retries(requested):
        retrier_decl.time.sleep(30)
    assert requested == [30]
    assert retrier_decl.time is time, f"{internal}: not restored after instant_retries"


# --- moto internal: ThreadedMotoServer._server_entry (start_server) -----------------------------------------

SERVER_ENTRY = "moto.moto_server.threaded_moto_server.ThreadedMotoServer._server_entry"


def test_threaded_moto_server_still_has_the_entry_point_and_attributes_the_override_uses():
    from moto.moto_server import threaded_moto_server, werkzeug_app
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from werkzeug.serving import make_server

    assert callable(getattr(ThreadedMotoServer, "_server_entry", None)), f"{SERVER_ENTRY} is gone"
    assert "target=self._server_entry" in inspect.getsource(ThreadedMotoServer.start), (
        f"{SERVER_ENTRY}: ThreadedMotoServer.start no longer runs it as the server thread"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # not started
    for attribute in ("_ip_address", "_port", "_server_ready_event", "_server"):
        assert hasattr(server, attribute), f"{SERVER_ENTRY}: ThreadedMotoServer has no {attribute} any more"
    for name in ("DomainDispatcherApplication", "MotoRequestHandler", "create_backend_app"):
        assert hasattr(werkzeug_app, name), f"{SERVER_ENTRY}: moto.moto_server.werkzeug_app.{name} is gone"
    # the override is moto's own body with the app wrapped: moto's body must still be that
    original = inspect.getsource(threaded_moto_server.ThreadedMotoServer._server_entry)
    for step in (
        "DomainDispatcherApplication(create_backend_app)",
        "make_server(",
        "request_handler=MotoRequestHandler",
        "self._server_ready_event.set()",
        "self._server.serve_forever()",
    ):
        assert step in original, (
            f"{SERVER_ENTRY} changed (no `{step}`): re-copy it into start_server's override"
        )
    params = inspect.signature(make_server).parameters
    assert {"threaded", "request_handler"} <= set(params), "werkzeug.serving.make_server's parameters changed"


def test_serialized_dynamodb_holds_its_lock_for_a_whole_dynamodb_request_and_only_then():
    seen: list[tuple[str, bool]] = []
    closed: list[str] = []

    class Body(list):
        def close(self):
            closed.append("closed")

    def app(environ, start_response):
        seen.append((environ.get("HTTP_X_AMZ_TARGET", ""), middleware._lock.locked()))
        start_response("200 OK", [])
        return Body([b"a", b"b"])

    middleware = SerializedDynamoDB(app)
    start = lambda status, headers: None  # noqa: E731
    assert list(middleware({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, start)) == [b"a", b"b"]
    assert list(middleware({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, start)) == [b"a", b"b"]
    assert list(middleware({}, start)) == [b"a", b"b"]
    assert seen == [
        ("DynamoDB_20120810.PutItem", True),
        ("AmazonSQS.ReceiveMessage", False),
        ("", False),
    ]
    assert closed == ["closed"], "the DynamoDB response is closed inside the lock (the rest by the server)"
    assert not middleware._lock.locked()


@pytest.fixture
def server_endpoint():
    server, endpoint = start_server()
    try:
        yield endpoint
    finally:
        server.stop()


def _server_client(endpoint: str, service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_server_lets_exactly_one_of_concurrent_conditional_puts_of_a_key_win(server_endpoint):
    assert server_endpoint.startswith("http://127.0.0.1:")
    table = "emulator-race"
    _server_client(server_endpoint, "dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    n = 16
    clients = [_server_client(server_endpoint, "dynamodb") for _ in range(n)]  # one connection each
    start = threading.Barrier(n, timeout=30)  # every put leaves at once
    outcomes: dict[int, str] = {}

    def put(i: int) -> None:
        start.wait()
        try:
            clients[i].put_item(
                TableName=table,
                Item={"pk": {"S": "the-key"}, "writer": {"N": str(i)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            outcomes[i] = "won"
        except ClientError as exc:
            outcomes[i] = exc.response["Error"]["Code"]

    threads = [threading.Thread(target=put, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    assert sorted(outcomes.values()) == ["ConditionalCheckFailedException"] * (n - 1) + ["won"]
    item = clients[0].get_item(TableName=table, Key={"pk": {"S": "the-key"}}, ConsistentRead=True)["Item"]
    assert item["writer"] == {"N": str(winners[0])}, "the winner's write is the one stored"


def test_execution_history_reads_every_page_past_the_first_thousand_events():
    from tradebot_local.runner import execution_history

    class PagedHistory:  # get_execution_history as Step Functions pages it: at most maxResults a page
        def __init__(self, total: int) -> None:
            self.events = [{"id": i + 1} for i in range(total)]
            self.calls: list[dict] = []

        def get_execution_history(self, **kwargs):
            self.calls.append(kwargs)
            start = int(kwargs.get("nextToken", 0))
            end = start + kwargs["maxResults"]
            page = {"events": self.events[start:end]}
            if end < len(self.events):
                page["nextToken"] = str(end)
            return page

    sfn = PagedHistory(2_345)
    assert [e["id"] for e in execution_history(sfn, "arn")] == list(range(1, 2_346))
    assert len(sfn.calls) == 3 and all(c["executionArn"] == "arn" for c in sfn.calls)
