"""The executor: consumes order messages (SQS FIFO), accepts, executes with the broker, records the outcome.

Every delivery of an order runs the same idempotent steps, so redelivery, a crash before the SQS delete
or two executors on one queue are harmless:

1. parse the body (an invalid one is logged and left for the DLQ: never deleted);
2. find the order in the ledger (record it NEW from the message if PaperTrade did not);
3. a final order (FILLED/REJECTED/CANCELLED) is a duplicate delivery: nothing to do;
4. kill switch on, or the account halted (daily loss limit) -> REJECTED with the reason; both are read
   afresh for every order, so a switch flipped mid-batch stops the rest of the batch;
5. NEW -> ACCEPTED; the broker's execution: a fill -> one transaction (ledger FILLED + cash + position,
   see tradebot.portfolio), insufficient cash / an oversized sell -> REJECTED; a day order that expired
   -> CANCELLED; no price yet -> stays ACCEPTED (``fill_pending`` finds it again through the ledger's
   by_status index);
6. delete the message, only now that its outcome is recorded.

A batch that takes long keeps its messages invisible: before each message, once half the visibility
timeout has passed since the receive (by the injected clock), the rest of the batch's visibility is
extended, so another executor does not receive them while they are being worked on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from tradebot import aws
from tradebot.clock import Clock, Sleep
from tradebot.config import ConfigStore, TradingConfig
from tradebot.execution.broker import Broker, ExecutionStatus
from tradebot.ledger import LedgerEntry, OrderLedger
from tradebot.models import Fill, Order
from tradebot.portfolio import FillOutcome, PortfolioStore

HEARTBEAT_NAMESPACE = "TradeBot"
HEARTBEAT_METRIC = "ExecutorHeartbeat"


class LoggerLike(Protocol):
    def info(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def exception(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...


def cloudwatch_heartbeat(cloudwatch: Any | None = None, service: str | None = None) -> Callable[[], None]:
    """A heartbeat that puts 1 on TradeBot/ExecutorHeartbeat with dimension ``service`` (as Powertools Metrics
    would: POWERTOOLS_SERVICE_NAME, "tradebot" in the template), which the heartbeat alarm watches."""
    service_name = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "tradebot"

    def beat() -> None:
        client = cloudwatch or aws.client("cloudwatch")
        client.put_metric_data(
            Namespace=HEARTBEAT_NAMESPACE,
            MetricData=[
                {
                    "MetricName": HEARTBEAT_METRIC,
                    "Dimensions": [{"Name": "service", "Value": service_name}],
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )

    return beat


@dataclass
class ExecutorReport:
    received: int = 0  # messages received
    accepted: int = 0  # NEW -> ACCEPTED transitions made
    filled: list[Fill] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (order_id, reason)
    cancelled: list[tuple[str, str]] = field(default_factory=list)  # (order_id, reason)
    duplicates: int = 0  # deliveries of orders already processed (or processed concurrently elsewhere)
    awaiting_open: list[str] = field(default_factory=list)  # order ids left ACCEPTED, no price yet
    invalid: int = 0  # messages whose body is not an Order (left on the queue for the DLQ)
    errors: int = 0  # messages whose processing failed (left on the queue for redelivery)
    extended: int = 0  # visibility extensions of in-flight messages

    def merge(self, other: ExecutorReport) -> ExecutorReport:
        self.received += other.received
        self.accepted += other.accepted
        self.filled.extend(other.filled)
        self.rejected.extend(other.rejected)
        self.cancelled.extend(other.cancelled)
        self.duplicates += other.duplicates
        # an order still awaiting its open is listed once; one that got an outcome since is no longer awaiting
        done = (
            {f.order_id for f in other.filled}
            | {i for i, _ in other.rejected}
            | {i for i, _ in other.cancelled}
        )
        self.awaiting_open = [i for i in self.awaiting_open if i not in done]
        self.awaiting_open.extend(i for i in other.awaiting_open if i not in self.awaiting_open)
        self.invalid += other.invalid
        self.errors += other.errors
        self.extended += other.extended
        return self

    def summary(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "filled": [f.order_id for f in self.filled],
            "rejected": [list(r) for r in self.rejected],
            "cancelled": [list(c) for c in self.cancelled],
            "duplicates": self.duplicates,
            "awaiting_open": list(self.awaiting_open),
            "invalid": self.invalid,
            "errors": self.errors,
            "extended": self.extended,
        }


class Executor:
    def __init__(
        self,
        *,
        queue_url: str,
        sqs: Any,
        ledger: OrderLedger,
        portfolios: PortfolioStore,
        config: ConfigStore,
        broker: Broker,
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
    ) -> None:
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be in [0, 20] (SQS long polling)")
        if not 1 <= max_messages <= 10:
            raise ValueError("max_messages must be in [1, 10]")
        if not 2 <= visibility_timeout_seconds <= 43_200:
            raise ValueError("visibility_timeout_seconds must be in [2, 43200]")
        if logger is None:
            from tradebot.observability import logger as powertools_logger

            logger = powertools_logger
        self._queue_url = queue_url
        self._sqs = sqs
        self._ledger = ledger
        self._portfolios = portfolios
        self._config = config
        self._broker = broker
        self._clock = clock
        self._sleep = sleep
        self._wait = wait_time_seconds
        self._max_messages = max_messages
        self._log: LoggerLike = logger
        self._heartbeat = heartbeat if heartbeat is not None else cloudwatch_heartbeat()
        self._heartbeat_interval = heartbeat_interval_seconds
        self._pending_interval = pending_interval_seconds
        self._max_backoff = max_backoff_seconds
        self._visibility = visibility_timeout_seconds
        self._ensured: set[str] = set()  # accounts whose cash item this process has made sure of

    # --- the queue -----------------------------------------------------------------------------------

    def poll_once(self) -> ExecutorReport:
        """One ReceiveMessage (long poll); each message is deleted only after its outcome is recorded."""
        report = ExecutorReport()
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._max_messages,
            WaitTimeSeconds=self._wait,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        report.received = len(messages)
        received_at = self._clock.now()
        for i, message in enumerate(messages):
            if (self._clock.now() - received_at).total_seconds() >= self._visibility / 2:
                self._extend_visibility(messages[i:], report)
                received_at = self._clock.now()
            self._handle_message(message, report)
        return report

    def _extend_visibility(self, messages: list[dict[str, Any]], report: ExecutorReport) -> None:
        """Keep the batch's unprocessed messages invisible for another full visibility timeout."""
        try:
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self._visibility}
                    for i, m in enumerate(messages)
                ],
            )
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
            order = Order.model_validate_json(message.get("Body", ""))
        except ValidationError as exc:
            report.invalid += 1
            self._log.error(
                "invalid order message left for the DLQ",
                extra={"message_id": message_id, "receive_count": receive_count, "error": str(exc)[:1000]},
            )
            return
        try:
            self._process(order, report)
        except Exception as exc:  # leave it on the queue: redelivered after the visibility timeout
            report.errors += 1
            self._log.exception(
                "order processing failed; message left for redelivery",
                extra={"message_id": message_id, "order_id": order.order_id, "error": repr(exc)},
            )
            return
        try:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception as exc:  # the outcome is recorded: a redelivery is a harmless duplicate
            self._log.warning(
                "could not delete a processed message; its redelivery will be a duplicate",
                extra={"message_id": message_id, "order_id": order.order_id, "error": repr(exc)},
            )

    def _process(self, order: Order, report: ExecutorReport) -> None:
        entry = self._ledger.get(order.order_id)
        if entry is None:
            if not self._ledger.record_new(order, self._clock.now()):
                entry = self._ledger.get(order.order_id)
            else:
                entry = LedgerEntry(order=order, status="NEW", updated_at=self._clock.now())
                self._log.info("order recorded from its message", extra={"order_id": order.order_id})
        if entry is None:  # pragma: no cover - recorded and gone: nothing deletes ledger entries
            raise RuntimeError(f"order {order.order_id} vanished from the ledger")
        if entry.order != order:
            self._log.warning(
                "message differs from the recorded order; the ledger's version is used",
                extra={"order_id": order.order_id},
            )
        self._advance(entry, report)

    def _blocked(self, order: Order, config: TradingConfig) -> str | None:
        """Why ``order`` must not trade now (kill switch, halted account), or None."""
        if config.kill_switch:
            return f"kill switch: {config.kill_switch_reason or 'engaged'}"
        halt = self._portfolios.halt(order.account)
        return None if halt is None else f"halted: {halt.reason}"

    def _advance(self, entry: LedgerEntry, report: ExecutorReport) -> None:
        order = entry.order
        if entry.final:
            report.duplicates += 1
            self._log.info("duplicate delivery", extra={"order_id": order.order_id, "status": entry.status})
            return
        config = self._config.load()  # per order: a kill switch flipped mid-batch takes effect at once
        blocked = self._blocked(order, config)
        if blocked is not None:
            self._reject(order, blocked, report)
            return
        if entry.status == "NEW":
            if self._ledger.accept(order.order_id, self._clock.now()):
                report.accepted += 1
                self._log.info("order accepted", extra={"order_id": order.order_id})
            else:
                current = self._ledger.get(order.order_id)
                if current is None or current.status != "ACCEPTED":
                    report.duplicates += 1
                    return
        self._fill(order, config, report)

    def _fill(self, order: Order, config: TradingConfig, report: ExecutorReport) -> None:
        execution = self._broker.execute(order)
        if execution.status is ExecutionStatus.PENDING:
            report.awaiting_open.append(order.order_id)
            self._log.info(
                "order pending",
                extra={"order_id": order.order_id, "symbol": order.symbol, "reason": execution.reason},
            )
            return
        if execution.status is ExecutionStatus.CANCELLED:
            self._cancel(order, execution.reason, report)
            return
        if execution.status is ExecutionStatus.REJECTED or execution.fill is None:
            self._reject(order, execution.reason or "rejected by the broker", report)
            return
        fill = execution.fill
        now = self._clock.now()
        if order.account not in self._ensured:  # once per account and process: the cash item never goes away
            self._portfolios.ensure(order.account, config.risk.initial_capital, now)
            self._ensured.add(order.account)
        outcome = self._portfolios.apply_fill(order, fill, ledger=self._ledger, now=now)
        if outcome is FillOutcome.FILLED:
            report.filled.append(fill)
            self._log.info("order filled", extra={"order_id": order.order_id, **fill.model_dump(mode="json")})
        elif outcome is FillOutcome.DUPLICATE:
            report.duplicates += 1
            self._log.info("already filled or closed elsewhere", extra={"order_id": order.order_id})
        else:
            self._reject(order, outcome.value, report)

    def _reject(self, order: Order, reason: str, report: ExecutorReport) -> None:
        if self._ledger.reject(order.order_id, reason, self._clock.now()):
            report.rejected.append((order.order_id, reason))
            self._log.warning("order rejected", extra={"order_id": order.order_id, "reason": reason})
        else:
            report.duplicates += 1

    def _cancel(self, order: Order, reason: str, report: ExecutorReport) -> None:
        if self._ledger.cancel(order.order_id, reason, self._clock.now()):
            report.cancelled.append((order.order_id, reason))
            self._log.info("order cancelled", extra={"order_id": order.order_id, "reason": reason})
        else:
            report.duplicates += 1

    # --- pending orders ------------------------------------------------------------------------------

    def fill_pending(self) -> ExecutorReport:
        """Try every ACCEPTED order again (its open may have arrived, its day may have ended); the kill
        switch or a halt rejects them."""
        report = ExecutorReport()
        for entry in self._ledger.by_status("ACCEPTED"):
            try:
                self._advance(entry, report)
            except Exception as exc:
                report.errors += 1
                self._log.exception(
                    "filling a pending order failed",
                    extra={"order_id": entry.order.order_id, "error": repr(exc)},
                )
        return report

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

        A poll in flight when ``stop`` is set finishes (its messages are processed and deleted); no further
        message is received. Failures are logged and retried with capped exponential backoff.
        """
        self._log.info("executor started", extra={"queue_url": self._queue_url})
        last_beat: datetime | None = None
        last_pending: datetime | None = None
        failures = 0
        while not stop.is_set():
            now = self._clock.now()
            if last_beat is None or (now - last_beat).total_seconds() >= self._heartbeat_interval:
                self._beat()
                last_beat = now
            try:
                polled = self.poll_once()
                if polled.received:
                    self._log.info("poll processed", extra=polled.summary())
                now = self._clock.now()
                if last_pending is None or (now - last_pending).total_seconds() >= self._pending_interval:
                    pending = self.fill_pending()
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
