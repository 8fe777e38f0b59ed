"""Entry point of the executor service (ECS Fargate): ``python -m executor.main``.

Builds the service (:func:`tradebot.execution.service.build_service`) from tradebot.settings
(ORDERS_QUEUE_URL, LEDGER_TABLE, STATE_TABLE, CONFIG_TABLE, DATA_SOURCE, SECRET_ARN, ...),
EXECUTOR_WAIT_SECONDS (the long poll, default 20) and the trading config's ``execution.broker`` (paper by
default; alpaca reads its keys from SECRET_ARN), then runs it until SIGTERM/SIGINT: the signal sets the
stop event, the poll in flight ends within one 5 s slice, the batch in hand is finished (outcomes
recorded, messages deleted; after a grace period the messages not started are made visible again), a
backoff sleep or a Yahoo retry ends at once, and nothing more is received. ECS sends SIGTERM on a
deployment, a scale-in or a Spot interruption (two minutes' warning) and SIGKILL after the container's
``StopTimeout`` (120 s in the template, Fargate's maximum), which must exceed
:func:`tradebot.execution.service.shutdown_worst_case_seconds` with a margin (checked by the tests).

Metrics it puts (namespace TradeBot, dimension service): ``ExecutorHeartbeat`` every minute and
``PriceLookupFailures`` for each failed price lookup (the order stays ACCEPTED and is tried again; its
fill session passing without a price cancels it: see tradebot.execution.broker).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from tradebot.errors import ConfigurationError
from tradebot.execution.service import build_service
from tradebot.observability import service_logger
from tradebot.settings import get_settings


def wait_seconds_from_env() -> int:
    """EXECUTOR_WAIT_SECONDS (the template's ExecutorWaitSeconds): the SQS long poll, 0..20, default 20."""
    raw = os.environ.get("EXECUTOR_WAIT_SECONDS", "20").strip() or "20"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 20:
        raise ConfigurationError(f"invalid or missing settings: EXECUTOR_WAIT_SECONDS ({raw!r}: need 0..20)")
    return value


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the loop finishes its in-flight poll and exits)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """The service loop's backoff sleep: returns as soon as ``stop`` is set."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


def main() -> int:
    stop = threading.Event()
    install_signal_handlers(stop)
    service = build_service(
        get_settings(),
        wait_time_seconds=wait_seconds_from_env(),
        logger=service_logger(),
        sleep=interruptible_sleep(stop),
        stop=stop,
    )
    service.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
