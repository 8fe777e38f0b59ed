"""The executor service (ECS Fargate): the loop around :class:`~tradebot.execution.executor.OrderExecutor`.

1. receive a batch from the orders queue (long poll);
2. parse each body (tradebot.store.queue; an invalid one is logged and left for the DLQ: never deleted);
3. take the order to its outcome (:class:`OrderExecutor`);
4. delete the message, only now that its outcome is recorded (a failure leaves it for redelivery).

A batch that takes long keeps its messages invisible: before each message, once half the visibility
timeout has passed since the receive (by the injected clock), the rest of the batch's visibility is
extended, so another executor does not receive them while they are being worked on. Every
``pending_interval_seconds`` the orders left ACCEPTED are tried again; a heartbeat metric is put every
``heartbeat_interval_seconds``.

Stopping (SIGTERM from ECS: a deployment, a scale-in, a Spot interruption; SIGKILL follows after the task
definition's StopTimeout). The service loop polls in slices of ``poll_slice_seconds`` (5 s) and checks the
stop between them, so the poll in flight ends within one slice and receives nothing more. The batch in hand
is finished: each message's outcome recorded, then the message deleted. Only a batch that is still running
``shutdown_grace_seconds`` after the stop was seen starts no further message: the rest are made visible
again at once (ChangeMessageVisibility 0), for the next executor, never lost. A stopping executor cuts a
Yahoo retry's backoff short (the order stays ACCEPTED, tried again on the next start) and stops its pending
pass, so one message takes at most :data:`MESSAGE_BOUND_SECONDS`; :func:`shutdown_worst_case_seconds` adds
it up, and tests/integration/test_executor.py checks it against the template's StopTimeout.

Metrics (namespace ``TradeBot``, dimension ``service`` = POWERTOOLS_SERVICE_NAME, "tradebot" in the
template): ``ExecutorHeartbeat`` (1 per beat) and ``PriceLookupFailures`` (1 per failed price lookup:
the price source raised or could not read the symbol; the order stays ACCEPTED and is tried again).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tradebot import aws
from tradebot.clock import Clock, Sleep, SystemClock, real_sleep
from tradebot.data import BarSource, source_from_spec
from tradebot.errors import InputValidationError
from tradebot.execution.broker import Broker, PaperBroker, PriceSource
from tradebot.execution.executor import ExecutorReport, LoggerLike, OrderExecutor
from tradebot.execution.next_bars import BarSourcePrices
from tradebot.settings import Settings
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.store.queue import OrderQueue, parse_order
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.config import TradingConfig

HEARTBEAT_NAMESPACE = "TradeBot"
HEARTBEAT_METRIC = "ExecutorHeartbeat"
PRICE_LOOKUP_FAILURES_METRIC = "PriceLookupFailures"

POLL_SLICE_SECONDS = 5  # one ReceiveMessage waits at most this long: a stop is seen within it
SHUTDOWN_GRACE_SECONDS = 15.0  # once stopping, messages of the batch in hand are still started this long
# The longest one message (or one pending order) takes once the executor is stopping: one Yahoo attempt
# (YFinanceSource's HTTP timeout, 30 s; the backoff before another attempt ends the lookup: see
# stopping_sleep) plus the order's DynamoDB and SQS calls.
YAHOO_ATTEMPT_SECONDS = 30.0
MESSAGE_BOUND_SECONDS = YAHOO_ATTEMPT_SECONDS + 5.0
RELEASE_BOUND_SECONDS = 1.0  # one ChangeMessageVisibilityBatch for the messages not started


def shutdown_worst_case_seconds(
    poll_slice_seconds: float = POLL_SLICE_SECONDS,
    grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
    message_seconds: float = MESSAGE_BOUND_SECONDS,
) -> float:
    """SIGTERM to exit at worst: the stop arrives during a poll slice or a message (whichever is longer)
    and is seen when it ends; messages are started for ``grace_seconds`` more; the last one started
    finishes; the rest of the batch is released. A pending pass or a backoff sleep ends sooner."""
    return max(poll_slice_seconds, message_seconds) + grace_seconds + message_seconds + RELEASE_BOUND_SECONDS


class ShutdownRequested(Exception):
    """The executor is stopping: a retry's backoff is not slept, the lookup gives up (the order waits)."""


def stopping_sleep(stop: threading.Event) -> Sleep:
    """A backoff sleep that ends as soon as ``stop`` is set, and then raises ShutdownRequested."""

    def pause(seconds: float) -> None:
        if stop.wait(seconds):
            raise ShutdownRequested("the executor is stopping: no further attempt")

    return pause


def cloudwatch_counter(
    metric: str, cloudwatch: Any | None = None, service: str | None = None
) -> Callable[[], None]:
    """A callable that puts 1 (Count) on TradeBot/``metric`` with dimension ``service`` (as Powertools
    Metrics would: POWERTOOLS_SERVICE_NAME, "tradebot" in the template)."""
    service_name = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "tradebot"

    def put() -> None:
        client = cloudwatch or aws.client("cloudwatch")
        client.put_metric_data(
            Namespace=HEARTBEAT_NAMESPACE,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "service", "Value": service_name}],
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )

    return put


def cloudwatch_heartbeat(cloudwatch: Any | None = None, service: str | None = None) -> Callable[[], None]:
    """A heartbeat that puts 1 on TradeBot/ExecutorHeartbeat with dimension ``service``, which the heartbeat
    alarm watches."""
    return cloudwatch_counter(HEARTBEAT_METRIC, cloudwatch, service)


def price_lookup_failure_metric(
    cloudwatch: Any | None = None, service: str | None = None
) -> Callable[[], None]:
    """Puts 1 on TradeBot/PriceLookupFailures with dimension ``service`` for each failed price lookup."""
    return cloudwatch_counter(PRICE_LOOKUP_FAILURES_METRIC, cloudwatch, service)


class ExecutorService:
    def __init__(
        self,
        *,
        queue: OrderQueue,
        executor: OrderExecutor,
        clock: Clock,
        sleep: Sleep,
        wait_time_seconds: int = 20,
        max_messages: int = 10,
        logger: LoggerLike | None = None,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_interval_seconds: float = 60.0,
        pending_interval_seconds: float = 300.0,
        max_backoff_seconds: float = 60.0,
        visibility_timeout_seconds: int = 120,
        poll_slice_seconds: int = POLL_SLICE_SECONDS,
        shutdown_grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be in [0, 20] (SQS long polling)")
        if not 1 <= max_messages <= 10:
            raise ValueError("max_messages must be in [1, 10]")
        if not 2 <= visibility_timeout_seconds <= 43_200:
            raise ValueError("visibility_timeout_seconds must be in [2, 43200]")
        self._queue = queue
        self._executor = executor
        self._clock = clock
        self._sleep = sleep
        self._wait = wait_time_seconds
        self._max_messages = max_messages
        self._log: LoggerLike = logger or logging.getLogger(__name__)
        self._heartbeat = heartbeat if heartbeat is not None else cloudwatch_heartbeat()
        self._heartbeat_interval = heartbeat_interval_seconds
        self._pending_interval = pending_interval_seconds
        self._max_backoff = max_backoff_seconds
        self._visibility = visibility_timeout_seconds
        self._poll_slice = max(1, poll_slice_seconds)
        self._grace = shutdown_grace_seconds

    # --- the queue -----------------------------------------------------------------------------------

    def poll_once(self, stop: threading.Event | None = None) -> ExecutorReport:
        """One long poll (``wait_time_seconds``; with ``stop``, in slices that end it once ``stop`` is
        set), then the batch: each message is deleted only after its outcome is recorded. With ``stop``
        set for ``shutdown_grace_seconds`` the messages not started yet are made visible again."""
        report = ExecutorReport()
        messages = self._receive(stop)
        report.received = len(messages)
        received_at = self._clock.now()
        stopping_since: datetime | None = None
        for i, message in enumerate(messages):
            if stop is not None and stop.is_set():
                stopping_since = stopping_since or self._clock.now()
                if (self._clock.now() - stopping_since).total_seconds() >= self._grace:
                    self._release(messages[i:])
                    break
            if (self._clock.now() - received_at).total_seconds() >= self._visibility / 2:
                self._extend_visibility(messages[i:], report)
                received_at = self._clock.now()
            self._handle_message(message, report)
        return report

    def _receive(self, stop: threading.Event | None) -> list[dict[str, Any]]:
        if stop is None:
            return self._queue.receive(self._max_messages, self._wait)
        waited = 0
        while not stop.is_set():
            wait = min(self._poll_slice, self._wait - waited)
            messages = self._queue.receive(self._max_messages, wait)
            waited += wait
            if messages or waited >= self._wait:
                return messages
        return []

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make the messages of the batch not started visible again now (the next executor takes them)."""
        try:
            response = self._queue.extend_visibility(messages, 0)
        except Exception as exc:  # they become visible when their visibility timeout ends anyway
            self._log.warning("could not release the messages not started", extra={"error": repr(exc)})
            return
        self._log.warning(
            "stopping: messages not started were released",
            extra={"released": len(response.get("Successful", [])), "failed": response.get("Failed", [])},
        )

    def fill_pending(self, stop: threading.Event | None = None) -> ExecutorReport:
        """The executor's pending pass (:meth:`OrderExecutor.fill_pending`), ending once ``stop`` is set."""
        return self._executor.fill_pending(stop)

    def _extend_visibility(self, messages: list[dict[str, Any]], report: ExecutorReport) -> None:
        """Keep the batch's unprocessed messages invisible for another full visibility timeout."""
        try:
            response = self._queue.extend_visibility(messages, self._visibility)
        except Exception as exc:  # a redelivery to another executor is harmless, only wasteful
            self._log.warning(
                "could not extend the visibility of in-flight messages", extra={"error": repr(exc)}
            )
            return
        report.extended += len(response.get("Successful", []))
        if response.get("Failed"):
            self._log.warning(
                "visibility extension failed for some messages", extra={"failed": response["Failed"]}
            )

    def _handle_message(self, message: dict[str, Any], report: ExecutorReport) -> None:
        message_id = message.get("MessageId", "?")
        receive_count = message.get("Attributes", {}).get("ApproximateReceiveCount")
        try:
            order = parse_order(message.get("Body", ""))
        except InputValidationError as exc:
            report.invalid += 1
            self._log.error(
                "invalid order message left for the DLQ",
                extra={"message_id": message_id, "receive_count": receive_count, "error": str(exc)[:1000]},
            )
            return
        try:
            self._executor.process(order, report)
        except Exception as exc:  # leave it on the queue: redelivered after the visibility timeout
            report.errors += 1
            self._log.exception(
                "order processing failed; message left for redelivery",
                extra={"message_id": message_id, "order_id": order.order_id, "error": repr(exc)},
            )
            return
        try:
            self._queue.delete(message)
        except Exception as exc:  # the outcome is recorded: a redelivery is a harmless duplicate
            self._log.warning(
                "could not delete a processed message; its redelivery will be a duplicate",
                extra={"message_id": message_id, "order_id": order.order_id, "error": repr(exc)},
            )

    # --- loops ---------------------------------------------------------------------------------------

    def drain(self, max_empty_polls: int = 1, max_polls: int = 10_000) -> ExecutorReport:
        """Poll until ``max_empty_polls`` polls in a row receive nothing, then fill_pending (local runs)."""
        report = ExecutorReport()
        empty = 0
        for _ in range(max_polls):
            polled = self.poll_once()
            report.merge(polled)
            empty = empty + 1 if polled.received == 0 else 0
            if empty >= max_empty_polls:
                break
        return report.merge(self.fill_pending())

    def run(self, stop: threading.Event) -> None:
        """The service loop: heartbeat, poll, fill pending orders now and then, until ``stop`` is set.

        The poll in flight when ``stop`` is set ends within one slice; the batch in hand is processed and
        deleted (see the module's docstring for the bound); no further message is received. Failures are
        logged and retried with capped exponential backoff (pass a ``sleep`` that returns when ``stop`` is
        set, as executor/main.py does).
        """
        self._log.info("executor started", extra={"queue_url": self._queue.url})
        last_beat: datetime | None = None
        last_pending: datetime | None = None
        failures = 0
        while not stop.is_set():
            now = self._clock.now()
            if last_beat is None or (now - last_beat).total_seconds() >= self._heartbeat_interval:
                self._beat()
                last_beat = now
            try:
                polled = self.poll_once(stop)
                if polled.received:
                    self._log.info("poll processed", extra=polled.summary())
                now = self._clock.now()
                due = last_pending is None or (now - last_pending).total_seconds() >= self._pending_interval
                if due and not stop.is_set():
                    pending = self.fill_pending(stop)
                    last_pending = now
                    if pending.filled or pending.rejected or pending.cancelled or pending.errors:
                        self._log.info("pending orders processed", extra=pending.summary())
                failures = 0
            except Exception as exc:
                failures += 1
                delay = min(self._max_backoff, 2.0 ** min(failures, 16))
                self._log.exception("executor loop failed", extra={"error": repr(exc), "retry_in_s": delay})
                if not stop.is_set():
                    self._sleep(delay)
        self._log.info("executor stopped")

    def _beat(self) -> None:
        try:
            self._heartbeat()
        except Exception as exc:  # a missing heartbeat is what the alarm is for; keep executing
            self._log.warning("heartbeat failed", extra={"error": repr(exc)})


# --- wiring ----------------------------------------------------------------------------------------------


def paper_broker(config: TradingConfig, prices: PriceSource, clock: Clock) -> PaperBroker:
    """The paper broker with the trading config's commission and slippage."""
    risk = config.risk
    return PaperBroker(
        prices, commission_rate=risk.commission_rate, slippage_bps=risk.slippage_bps, clock=clock
    )


def build_broker(
    settings: Settings,
    config: TradingConfig,
    clock: Clock,
    prices: PriceSource | None = None,
    stop: threading.Event | None = None,
) -> Broker:
    """The trading config's broker: the paper broker (default; next opens from ``prices``, else from the
    settings' data source) or Alpaca's paper-trading API. With ``stop``, Yahoo's retries end when it is
    set (:func:`stopping_sleep`)."""
    if config.execution.broker == "alpaca":
        from tradebot.execution.alpaca import AlpacaBroker  # alpaca-py: an optional, executor-only package

        return AlpacaBroker.from_secret(settings.secret_arn)
    if prices is None:
        source: BarSource
        if stop is not None and settings.data_source.strip().lower() == "yfinance":
            from tradebot.data.yfinance_source import YFinanceSource

            source = YFinanceSource(cache_dir=settings.yfinance_cache_dir, sleep=stopping_sleep(stop))
        else:
            source = source_from_spec(settings.data_source, cache_dir=settings.yfinance_cache_dir)
        prices = BarSourcePrices(source, clock=clock)
    return paper_broker(config, prices, clock)


def build_service(
    settings: Settings,
    *,
    broker: Broker | None = None,
    prices: PriceSource | None = None,
    clock: Clock | None = None,
    sleep: Sleep = real_sleep,
    ddb: Any | None = None,
    sqs: Any | None = None,
    heartbeat: Callable[[], None] | None = None,
    wait_time_seconds: int = 20,
    logger: LoggerLike | None = None,
    price_lookup_failure: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> ExecutorService:
    """The executor service wired to the settings' resources. The broker (unless given), commission and
    slippage come from the trading config as it is at start (a change takes effect when the service
    restarts); the visibility timeout is the queue's. Each failed price lookup puts 1 on
    TradeBot/PriceLookupFailures (``price_lookup_failure`` replaces that). ``stop``: the event the
    service will run until (its price lookups stop retrying once it is set)."""
    clock = clock or SystemClock()
    ddb = ddb or aws.client("dynamodb")
    queue = OrderQueue(settings.orders_queue_url, sqs or aws.client("sqs"))
    config = ConfigStore(settings.config_table, ddb)
    executor = OrderExecutor(
        ledger=OrderLedger(settings.ledger_table, ddb),
        accounts=AccountStore(settings.state_table, ddb),
        config=config,
        broker=broker or build_broker(settings, config.load(), clock, prices, stop),
        clock=clock,
        ddb=ddb,
        logger=logger,
        on_price_lookup_failure=price_lookup_failure or price_lookup_failure_metric(),
    )
    return ExecutorService(
        queue=queue,
        executor=executor,
        clock=clock,
        sleep=sleep,
        wait_time_seconds=wait_time_seconds,
        logger=logger,
        heartbeat=heartbeat or cloudwatch_heartbeat(),
        visibility_timeout_seconds=queue.visibility_timeout(),
    )
