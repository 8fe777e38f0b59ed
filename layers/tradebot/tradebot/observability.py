"""Powertools Logger, Tracer and Metrics, configured from the environment (POWERTOOLS_* in template.yaml).

A Lambda handler module calls :func:`lambda_instruments` at import: in AWS that is once per cold start,
with the function's environment in place, so the service name and the metrics namespace are the
template's. Logs and EMF metrics go to standard output (CloudWatch Logs reads them there); the stream
is looked up at each write, so a host that redirects ``sys.stdout`` around an invocation (the local
emulator does, to collect each invocation's logs and metrics) gets them.
"""

from __future__ import annotations

import sys

from aws_lambda_powertools import Logger, Metrics, Tracer


class _CurrentStdout:
    """``sys.stdout`` as it is at each write (Powertools would bind the stream once, at creation)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def lambda_instruments() -> tuple[Logger, Tracer, Metrics]:
    """A handler's Logger, Tracer and Metrics (service: POWERTOOLS_SERVICE_NAME, namespace:
    POWERTOOLS_METRICS_NAMESPACE, level: POWERTOOLS_LOG_LEVEL)."""
    return service_logger(), Tracer(), Metrics()


def service_logger() -> Logger:
    """A Logger for POWERTOOLS_SERVICE_NAME at POWERTOOLS_LOG_LEVEL (the executor service uses it too: on
    ECS standard output goes to its CloudWatch log group)."""
    logger = Logger(stream=_CurrentStdout())  # type: ignore[arg-type]
    # Powertools configures a service's logging.Logger once per process and ignores the level of later
    # instances; the level is the environment's now (a Lambda process creates one instance anyway).
    logger.setLevel(None)
    return logger
