"""The in-process AWS emulator: moto, with Lambda tasks dispatched to the real handlers in this process.

This module is the ONLY place that relies on moto internals, each guarded by a test in
tests/integration/test_emulator.py that fails loudly if moto changes it (moto is pinned exactly):

* ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``: replaced, so a Lambda task runs the
  function's real handler in this process (:func:`dispatch_lambdas`);
* ``moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time``: replaced, so a Retry's
  interval is recorded instead of slept (:func:`instant_retries`);
* ``moto.moto_server.threaded_moto_server.ThreadedMotoServer._server_entry``: overridden, so the server
  mode applies DynamoDB requests one at a time (:func:`start_server`).

Each invocation runs as in a Lambda sandbox: one at a time per function process (here: per emulator),
with the function's own environment (template.yaml's Globals and the function's variables, plus what the
Lambda runtime sets), and its standard output (Powertools logs and EMF metrics) collected the way
CloudWatch Logs would: EMF documents into :attr:`LambdaDispatcher.metrics`, log lines to a log sink
(stderr by default). A handler's exception is returned the way the Lambda runtime does it
(``x-amz-function-error: Unhandled`` and ``{"errorType": <class name>, "errorMessage": ...}``), so the
state machine's Retry/Catch see ``Error == <class name>`` exactly as in AWS.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from werkzeug.serving import make_server

from tradebot import aws

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
    output: Any = None  # what the handler returned (None when it raised)
    seconds: float = 0.0  # the handler's wall time


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


class LambdaDispatcher:
    """Maps Lambda function names (or ARNs) to in-process handlers and records each invocation."""

    def __init__(self, log_sink: Callable[[str], None] = _stderr_line) -> None:
        self._handlers: dict[str, tuple[Handler, dict[str, str]]] = {}
        self._sandbox = threading.Lock()  # a Lambda sandbox runs one invocation at a time
        self._log_sink = log_sink
        self.invocations: list[Invocation] = []
        self.metrics: list[dict[str, Any]] = []  # EMF documents the invocations printed (CloudWatch's view)
        self.on_invoke: Callable[[str, Any], None] | None = None  # fault injection point for tests
        self.retry_waits: list[float] = []  # Retry intervals the state machine asked for (not slept)

    def register(
        self, function_name: str, handler: Handler, environment: Mapping[str, str] | None = None
    ) -> None:
        """Route ``function_name`` to ``handler``, run with ``environment`` added to the process's."""
        self._handlers[function_name] = (handler, dict(environment or {}))

    def call(self, function_name: str, event: Any) -> tuple[bool, Any]:
        """Run one invocation; (True, result) or (False, the runtime's error document)."""
        name = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name not in self._handlers:
            raise KeyError(f"no local handler registered for Lambda function {name!r}")
        handler, environment = self._handlers[name]
        output = io.StringIO()
        with self._sandbox, mock.patch.dict(os.environ, environment), redirect_stdout(output):
            started = time.perf_counter()
            try:
                if self.on_invoke is not None:
                    self.on_invoke(name, event)
                result = handler(event, LambdaContext(function_name=name))
            except Exception as exc:  # the runtime turns any exception into a function error
                error = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-3:],
                }
                seconds = time.perf_counter() - started
                self.invocations.append(Invocation(name, event, type(exc).__name__, seconds=seconds))
                return False, error
            finally:
                self._collect(output.getvalue())
            seconds = time.perf_counter() - started
        self.invocations.append(Invocation(name, event, None, result, seconds))
        return True, result

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        ok, result = self.call(function_name, json.loads(body) if body else {})
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result, default=str).encode()

    def _collect(self, text: str) -> None:
        """EMF documents (a JSON object with "_aws") become metrics; every other line is a log line."""
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            if isinstance(document, dict) and "_aws" in document:
                self.metrics.append(document)
            else:
                self._log_sink(line)


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
        aws.reset_clients()
        try:
            yield dispatcher
        finally:
            aws.reset_clients()


class _KnownGap(logging.Filter):
    """moto warns, at every parse, that it does not enforce a Map's ToleratedFailure* fields. Known and
    covered: GenerateSignals enforces the run's tolerance in AWS and here alike
    (tradebot.pipeline.signals)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "currently have no effect on the program evaluation" not in record.getMessage()


logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").addFilter(_KnownGap())
# moto logs every failed state at ERROR with a dump of its parser's objects; a failed run's state, error and
# message are reported from the execution history instead (tradebot_local.runner)
logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
# Powertools warns when an invocation ends without metrics (a handler that raised before adding any): the
# failure itself is what a local run reports
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


# --- server mode: moto over HTTP, for other processes -----------------------------------------------------


class SerializedDynamoDB:
    """WSGI middleware: DynamoDB requests one at a time; every other request passes through unchanged.

    Why: moto's DynamoDB evaluates a request's condition (ConditionExpression, a transaction's
    ConditionCheck) and applies its write in separate steps, without a lock, while the server runs each
    request on its own thread; so two concurrent conditional writes of one item can both pass their
    condition (two "create once" puts both succeed, two executors both move an order NEW -> ACCEPTED).
    Real DynamoDB makes each conditional write and each transaction atomic; applying DynamoDB requests one
    at a time gives the same guarantee. SQS is not serialized: concurrent receives from moto may hand out
    a message twice, which the queue's consumers must tolerate anyway (at-least-once delivery).
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)  # type: ignore[no-any-return]
        with self._lock:  # the whole request, including the body's production
            response = self._app(environ, start_response)
            try:
                return list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


class _SerializedMotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer with its WSGI app wrapped in :class:`SerializedDynamoDB`. The override is
    moto's own ``_server_entry`` with that one change (guarded by tests/integration/test_emulator.py)."""

    def _server_entry(self) -> None:
        app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def start_server(port: int | None = None) -> tuple[ThreadedMotoServer, str]:
    """Start moto's server on 127.0.0.1 (``port``, or a free one when None) in a daemon thread of this
    process, DynamoDB requests serialized (:class:`SerializedDynamoDB`); (the server, its endpoint URL).

    For clients in other processes or threads (``endpoint_url=``; any credentials, e.g.
    :data:`FAKE_CREDENTIALS`). The state is in this process's global moto backends, which entering or
    leaving a ``mock_aws`` here resets. Stop the server with ``server.stop()``. Lambda dispatch and
    instant retries are not applied (those are :func:`emulated_aws`'s, in-process).
    """
    server = _SerializedMotoServer(ip_address="127.0.0.1", port=0 if port is None else port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()  # port 0: the one the OS picked
    return server, f"http://{host}:{bound}"
