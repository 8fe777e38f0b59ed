"""Entry point of the executor service (ECS Fargate): ``python -m executor.main``.

Builds everything from tradebot.settings (ORDERS_QUEUE_URL, LEDGER_TABLE, STATE_TABLE, CONFIG_TABLE,
DATA_SOURCE, SECRET_ARN, ...), EXECUTOR_WAIT_SECONDS (the long poll, default 20) and the trading config's
``execution.broker`` (paper by default; alpaca reads its keys from SECRET_ARN), then runs
:meth:`tradebot.execution.Executor.run` until SIGTERM/SIGINT: the signal sets the stop event, the poll in
flight finishes (its messages are recorded and deleted), nothing more is received. ECS sends SIGTERM on a
deployment or a Spot interruption and SIGKILL after ``StopTimeout`` (30 s in the template), which must
exceed the long poll plus one batch.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from tradebot import aws
from tradebot.clock import Clock, Sleep, SystemClock, real_sleep
from tradebot.config import ConfigStore, TradingConfig
from tradebot.errors import ConfigurationError
from tradebot.execution import (
    BarSourcePrices,
    Broker,
    Executor,
    PaperBroker,
    PriceSource,
    cloudwatch_heartbeat,
)
from tradebot.ledger import OrderLedger
from tradebot.portfolio import PortfolioStore
from tradebot.settings import Settings, get_settings


def price_source(settings: Settings, clock: Clock) -> PriceSource:
    """Next opens from the configured bar source (imported lazily: the data layer is heavy)."""
    from tradebot.data import source_from_spec

    source = source_from_spec(settings.data_source, cache_dir=settings.yfinance_cache_dir)
    return BarSourcePrices(source, clock=clock)


def build_broker(
    settings: Settings, config: TradingConfig, clock: Clock, prices: PriceSource | None
) -> Broker:
    """The trading config's broker: the paper broker (default) or Alpaca's paper-trading API."""
    if config.execution.broker == "alpaca":
        from tradebot.execution.alpaca import AlpacaBroker

        return AlpacaBroker.from_secret(settings.secret_arn)
    return PaperBroker(
        prices or price_source(settings, clock),
        commission_rate=config.risk.commission_rate,
        slippage_bps=config.risk.slippage_bps,
        clock=clock,
    )


def build_executor(
    settings: Settings,
    *,
    prices: PriceSource | None = None,
    clock: Clock | None = None,
    sleep: Sleep = real_sleep,
    ddb: Any | None = None,
    sqs: Any | None = None,
    heartbeat: Any | None = None,
    wait_time_seconds: int = 20,
) -> Executor:
    """The executor wired to the settings' resources. The broker, commission and slippage come from the
    trading config as it is at start (a change takes effect when the service restarts); the visibility
    timeout is the queue's."""
    clock = clock or SystemClock()
    ddb = ddb or aws.client("dynamodb")
    sqs = sqs or aws.client("sqs")
    config = ConfigStore(settings.config_table, ddb)
    visibility = sqs.get_queue_attributes(
        QueueUrl=settings.orders_queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]
    return Executor(
        queue_url=settings.orders_queue_url,
        sqs=sqs,
        ledger=OrderLedger(settings.ledger_table, ddb),
        portfolios=PortfolioStore(settings.state_table, ddb),
        config=config,
        broker=build_broker(settings, config.load(), clock, prices),
        clock=clock,
        sleep=sleep,
        wait_time_seconds=wait_time_seconds,
        heartbeat=heartbeat or cloudwatch_heartbeat(),
        visibility_timeout_seconds=int(visibility),
    )


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


def main() -> int:
    stop = threading.Event()
    install_signal_handlers(stop)
    executor = build_executor(get_settings(), wait_time_seconds=wait_seconds_from_env())
    executor.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
