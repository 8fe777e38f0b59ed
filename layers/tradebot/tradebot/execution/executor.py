"""One order's life at the executor: recorded -> gate -> accepted -> executed by the broker -> settled.

Every delivery of an order runs the same idempotent steps, so redelivery, a crash before the SQS delete
or two executors on one queue are harmless:

1. find the order in the ledger (record it NEW from the message if PaperTrade did not);
2. a final order (FILLED/REJECTED/CANCELLED) is a duplicate delivery: nothing to do;
3. the trading gate (tradebot.trading.risk: kill switch, halted account) -> REJECTED with the reason;
   both are read afresh for every order, so a switch flipped mid-batch stops the rest of the batch;
4. NEW -> ACCEPTED; the broker's execution: a fill -> the fill transaction (tradebot.store.settlement),
   insufficient cash / an oversized sell -> REJECTED; a day order that expired (its fill session passed
   without a price, or a limit not reached) -> CANCELLED with the reason; no price yet -> stays ACCEPTED
   (:meth:`OrderExecutor.fill_pending` finds it again through the ledger), logged at INFO;
5. a failed price lookup (:class:`~tradebot.execution.broker.PriceLookupError`: the price source raised
   or could not read the symbol) is not "no price yet": it is logged as an ERROR and counted
   (``on_price_lookup_failure``: the service puts the CloudWatch metric TradeBot/PriceLookupFailures),
   and the order stays ACCEPTED for the next sweep while its fill session can still come; the broker
   cancels it once that session is over (see :mod:`tradebot.execution.broker`);
6. a split of the order's symbol between its decision and its fill (the broker's SPLIT: the decision
   session's close in the price source is the order's reference price / a split ratio): the split is
   applied to the account once (tradebot.store.corporate_actions: the SPLIT item, the position, the cash
   in lieu and every pending order of the symbol, this one included, in one transaction; already applied
   by PaperTrade: only this order is amended if it was recorded after), then the amended order is
   executed again, so a BUY fills the split-adjusted quantity and a SELL of shares held before the split
   sells them in the new units from a position already in the new units. The gate (3) includes the
   symbol: an order of a stopped symbol is REJECTED with the reason.

A fill is conditional on the ledger entry's revision (tradebot.store.ledger): if a split amended the
order while it was being executed, it is read again and executed as amended.

The queue side (receive, delete only after the outcome is recorded, visibility, heartbeat, the loop) is
:mod:`tradebot.execution.service`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradebot.clock import Clock
from tradebot.contracts import Fill, Order
from tradebot.execution.broker import Broker, Execution, ExecutionStatus, PriceLookupError
from tradebot.store.accounts import AccountStore
from tradebot.store.corporate_actions import SplitOutcome, amend_orders, apply_split
from tradebot.store.ledger import LedgerEntry, OrderLedger
from tradebot.store.settlement import FillOutcome, apply_fill
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.account import SplitRecord
from tradebot.trading.config import TradingConfig
from tradebot.trading.corporate_actions import SplitFound
from tradebot.trading.risk import trading_block

MAX_EXECUTIONS = 4  # executions of one order in one delivery: a split (or an amendment) in between


class LoggerLike(Protocol):
    def info(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def exception(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...


@dataclass
class ExecutorReport:
    received: int = 0  # messages received
    accepted: int = 0  # NEW -> ACCEPTED transitions made
    filled: list[Fill] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (order_id, reason)
    cancelled: list[tuple[str, str]] = field(default_factory=list)  # (order_id, reason)
    duplicates: int = 0  # deliveries of orders already processed (or processed concurrently elsewhere)
    awaiting_open: list[str] = field(default_factory=list)  # order ids left ACCEPTED, no price yet
    price_lookup_failures: int = 0  # executions whose price lookup failed (the order stays ACCEPTED)
    invalid: int = 0  # messages whose body is not an Order (left on the queue for the DLQ)
    errors: int = 0  # messages whose processing failed (left on the queue for redelivery)
    extended: int = 0  # visibility extensions of in-flight messages
    splits: list[SplitRecord] = field(default_factory=list)  # splits this executor applied to accounts

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
        self.price_lookup_failures += other.price_lookup_failures
        self.invalid += other.invalid
        self.errors += other.errors
        self.extended += other.extended
        self.splits.extend(other.splits)
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
            "price_lookup_failures": self.price_lookup_failures,
            "invalid": self.invalid,
            "errors": self.errors,
            "extended": self.extended,
            "splits": [f"{r.symbol} {r.ratio_text} ex {r.ex_date}" for r in self.splits],
        }


class OrderExecutor:
    """Takes an order from the ledger to its outcome (see the module doc); safe to repeat."""

    def __init__(
        self,
        *,
        ledger: OrderLedger,
        accounts: AccountStore,
        config: ConfigStore,
        broker: Broker,
        clock: Clock,
        ddb: Any,
        logger: LoggerLike | None = None,
        on_price_lookup_failure: Callable[[], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._accounts = accounts
        self._config = config
        self._broker = broker
        self._clock = clock
        self._ddb = ddb
        self._log: LoggerLike = logger or logging.getLogger(__name__)
        self._ensured: set[str] = set()  # accounts whose cash item this process has made sure of
        self._on_price_lookup_failure = on_price_lookup_failure

    def process(self, order: Order, report: ExecutorReport) -> None:
        """One delivery of ``order``: record it if the ledger lacks it, then advance it."""
        entry = self._ledger.get(order.order_id)
        if entry is None:
            if not self._ledger.record_new(order, self._clock.now()):
                entry = self._ledger.get(order.order_id)
            else:
                entry = LedgerEntry(order=order, status="NEW", updated_at=self._clock.now())
                self._log.info("order recorded from its message", extra={"order_id": order.order_id})
        if entry is None:  # pragma: no cover - recorded and gone: nothing deletes ledger entries
            raise RuntimeError(f"order {order.order_id} vanished from the ledger")
        if entry.order != order and entry.revision > 0:
            self._log.info(
                "the order was adjusted for a split after it was sent; the ledger's version is used",
                extra={"order_id": order.order_id, "revision": entry.revision},
            )
        elif entry.order != order:
            self._log.warning(
                "message differs from the recorded order; the ledger's version is used",
                extra={"order_id": order.order_id},
            )
        self.advance(entry, report)

    def advance(self, entry: LedgerEntry, report: ExecutorReport) -> None:
        order = entry.order
        if entry.final:
            report.duplicates += 1
            self._log.info("duplicate delivery", extra={"order_id": order.order_id, "status": entry.status})
            return
        config = self._config.load()  # per order: a kill switch flipped mid-batch takes effect at once
        blocked = trading_block(
            config,
            self._accounts.halt(order.account),
            self._accounts.symbol_halt(order.account, order.symbol),
        )
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
                entry = current
        self._execute(entry, config, report)

    def fill_pending(self, stop: threading.Event | None = None) -> ExecutorReport:
        """Try every ACCEPTED order again (its open may have arrived, its day may have ended); the gate
        rejects them while trading is blocked. With ``stop``, the pass ends once it is set (the orders
        left stay ACCEPTED for the next pass, or the next executor)."""
        report = ExecutorReport()
        for entry in self._ledger.by_status("ACCEPTED"):
            if stop is not None and stop.is_set():
                self._log.info("stopping: the pending pass ends here")
                break
            try:
                self.advance(entry, report)
            except Exception as exc:
                report.errors += 1
                self._log.exception(
                    "filling a pending order failed",
                    extra={"order_id": entry.order.order_id, "error": repr(exc)},
                )
        return report

    def _execute(self, entry: LedgerEntry, config: TradingConfig, report: ExecutorReport) -> None:
        """Execute the order at the broker and settle the outcome; again (a few times at most) when a
        split had to be applied first or a split amended the order meanwhile."""
        for _ in range(MAX_EXECUTIONS):
            current = self._execute_once(entry, config, report)
            if current is None:
                return
            entry = current
        self._reject(
            entry.order,
            f"the order kept changing under a split of {entry.order.symbol}; not filled (executed "
            f"{MAX_EXECUTIONS} times)",
            report,
        )

    def _execute_once(
        self, entry: LedgerEntry, config: TradingConfig, report: ExecutorReport
    ) -> LedgerEntry | None:
        """One execution; the entry to execute again (a split was applied, or the order was amended
        meanwhile), or None: done (its outcome recorded, or left for a later sweep)."""
        order = entry.order
        try:
            execution = self._broker.execute(order)
        except PriceLookupError as exc:
            self._price_lookup_failed(order, exc, report)
            return None
        if execution.status is ExecutionStatus.SPLIT:
            return self._split(entry, execution, config, report)
        if execution.status is ExecutionStatus.PENDING:
            report.awaiting_open.append(order.order_id)
            self._log.info(
                "order pending",
                extra={"order_id": order.order_id, "symbol": order.symbol, "reason": execution.reason},
            )
            return None
        if execution.status is ExecutionStatus.CANCELLED:
            self._cancel(order, execution.reason, report)
            return None
        if execution.status is ExecutionStatus.REJECTED or execution.fill is None:
            self._reject(order, execution.reason or "rejected by the broker", report)
            return None
        fill = execution.fill
        now = self._clock.now()
        self._ensure(order.account, config)
        outcome = apply_fill(
            self._ddb,
            order,
            fill,
            ledger=self._ledger,
            accounts=self._accounts,
            now=now,
            revision=entry.revision,
        )
        if outcome is FillOutcome.FILLED:
            report.filled.append(fill)
            self._log.info("order filled", extra={"order_id": order.order_id, **fill.model_dump(mode="json")})
        elif outcome is FillOutcome.DUPLICATE:
            current = self._ledger.get(order.order_id)
            if current is not None and not current.final and current.revision != entry.revision:
                self._log.info(
                    "the order was amended for a split while it was executed; executing it as amended",
                    extra={"order_id": order.order_id, "revision": current.revision},
                )
                return current
            report.duplicates += 1
            self._log.info("already filled or closed elsewhere", extra={"order_id": order.order_id})
        else:
            self._reject(order, outcome.value, report)
        return None

    def _ensure(self, account: str, config: TradingConfig) -> None:
        if account not in self._ensured:  # once per account and process: the cash item never goes away
            self._accounts.ensure(account, config.risk.initial_capital, self._clock.now())
            self._ensured.add(account)

    def _split(
        self, entry: LedgerEntry, execution: Execution, config: TradingConfig, report: ExecutorReport
    ) -> LedgerEntry | None:
        """The order predates a split (the broker's SPLIT): apply it to the account once, or amend this
        order for a split already applied; the amended entry to execute again (None: the order is
        final now, e.g. cancelled with less than one share left)."""
        found = execution.split
        order = entry.order
        if found is None:  # pragma: no cover - the broker's SPLIT always carries the split found
            self._reject(order, execution.reason or "split without details", report)
            return None
        now = self._clock.now()
        self._ensure(order.account, config)
        record = self._recorded_split(entry, found)
        if record is None:
            outcome, record = apply_split(
                self._ddb,
                found,
                accounts=self._accounts,
                ledger=self._ledger,
                now=now,
                applied_by=f"executor (order {order.order_id})",
            )
            if outcome is SplitOutcome.APPLIED:
                report.splits.append(record)
                self._log.warning(
                    "split applied to the account before filling an order decided before it",
                    extra={"order_id": order.order_id, "reason": execution.reason, **record.summary()},
                )
        current = self._ledger.get(order.order_id)
        if (
            current is not None
            and current.revision == entry.revision
            and not current.amended_for(record.ex_date)
        ):
            # applied before this order was recorded, or the index listing pending orders lagged behind it
            amend_orders(self._ddb, record, [current], ledger=self._ledger, now=now)
            current = self._ledger.get(order.order_id)
        if current is None or current.final:
            if current is not None and current.status == "CANCELLED":
                report.cancelled.append((order.order_id, current.reason))
            return None
        if current.revision == entry.revision:  # nothing changed: the split cannot be applied to it
            self._reject(order, f"{execution.reason}: the order could not be adjusted for it", report)
            return None
        return current

    def _recorded_split(self, entry: LedgerEntry, found: SplitFound) -> SplitRecord | None:
        """A split of the order's symbol already applied to the account, after the order's decision, that
        the order was not amended for (it was recorded after the split was applied)."""
        records = self._accounts.splits(found.account, found.symbol)
        missing = [
            r
            for r in records
            if found.reference_session < r.ex_date <= found.ex_date and not entry.amended_for(r.ex_date)
        ]
        return missing[0] if missing else None

    def _price_lookup_failed(self, order: Order, exc: PriceLookupError, report: ExecutorReport) -> None:
        """Not "no price yet": an error, counted; the order stays ACCEPTED for the next sweep."""
        report.price_lookup_failures += 1
        report.awaiting_open.append(order.order_id)
        self._log.error(
            "price lookup failed; the order stays ACCEPTED for the next sweep",
            extra={
                "order_id": order.order_id,
                "symbol": order.symbol,
                "as_of": str(order.as_of),
                "error": str(exc),
            },
        )
        if self._on_price_lookup_failure is not None:
            try:
                self._on_price_lookup_failure()
            except Exception as metric_exc:  # the log line above is the record; keep executing
                self._log.warning(
                    "could not count the price lookup failure", extra={"error": repr(metric_exc)}
                )

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
