"""The in-process AWS emulator: moto, with Lambda tasks dispatched to the real handlers in this process.

This module is the ONLY place that relies on a moto internal (``LambdaSimpleBackend.invoke``); moto is
pinned exactly in pyproject.toml and tests/integration/test_emulator.py fails loudly if the hook breaks.
A handler's exception is returned the way the Lambda runtime does it (``x-amz-function-error: Unhandled``
and ``{"errorType": <class name>, "errorMessage": ...}``), so the state machine's Retry/Catch see
``Error == <class name>`` exactly as in AWS.
"""

from __future__ import annotations

import json
import os
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

Handler = Callable[[dict[str, Any], Any], Any]
REGION = "us-east-1"
ACCOUNT = "123456789012"
MOTO_CONFIG: Any = {  # moto's DefaultConfig TypedDict
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the parts Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 300_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


@dataclass
class Invocation:
    function: str
    event: Any
    error_type: str | None


class LambdaDispatcher:
    """Maps Lambda function names (or ARNs) to in-process handlers and records each invocation."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.invocations: list[Invocation] = []
        self.on_invoke: Callable[[str, Any], None] | None = None  # fault injection point for tests
        self.retry_waits: list[float] = []  # Retry intervals the state machine asked for (not slept)

    def register(self, function_name: str, handler: Handler) -> None:
        self._handlers[function_name] = handler

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        name = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        handler = self._handlers.get(name)
        if handler is None:
            raise KeyError(f"no local handler registered for Lambda function {name!r}")
        event = json.loads(body) if body else {}
        try:
            if self.on_invoke is not None:
                self.on_invoke(name, event)
            result = handler(event, LambdaContext(function_name=name))
        except Exception as exc:  # the runtime turns any exception into a function error
            self.invocations.append(Invocation(name, event, type(exc).__name__))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-3:],
                }
            ).encode()
        self.invocations.append(Invocation(name, event, None))
        return json.dumps(result, default=str).encode()


@contextmanager
def dispatch_lambdas(dispatcher: LambdaDispatcher) -> Iterator[LambdaDispatcher]:
    """Route moto's simple Lambda backend to ``dispatcher`` (the moto internal this project relies on)."""

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        return dispatcher.invoke(function_name, body, response_headers)

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield dispatcher


class _NoSleep:
    """Stands in for the ``time`` module inside moto's retrier: retries happen without waiting."""

    def __init__(self, record: list[float]) -> None:
        self._record = record

    def sleep(self, seconds: float) -> None:
        self._record.append(seconds)


@contextmanager
def instant_retries(requested: list[float]) -> Iterator[list[float]]:
    """Make Step Functions Retry intervals instant, recording the intervals requested into ``requested``."""
    with mock.patch.object(retrier_decl, "time", _NoSleep(requested)):
        yield requested


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def emulated_aws(dispatcher: LambdaDispatcher | None = None) -> Iterator[LambdaDispatcher]:
    """moto with state-machine execution on, fake credentials (never real AWS), Lambdas dispatched in-process,
    and Step Functions retries that do not sleep."""
    dispatcher = dispatcher or LambdaDispatcher()
    with (
        mock.patch.dict(os.environ, FAKE_CREDENTIALS),
        mock_aws(config=MOTO_CONFIG),
        dispatch_lambdas(dispatcher),
        instant_retries(dispatcher.retry_waits),
    ):
        from tradebot import aws

        aws.reset_clients()
        try:
            yield dispatcher
        finally:
            aws.reset_clients()
