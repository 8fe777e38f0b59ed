"""PaperTrade: the run's signals (one S3 object) -> orders recorded in the ledger and sent to the queue,
once per account and session.

1. The trading gate (tradebot.trading.risk: the kill switch, then the account's halt): KillSwitchEngaged,
   nothing written.
2. A session already decided for the account (a retried step, a re-run of the same day): its recorded
   orders are recorded again if missing and re-sent if still NEW; nothing new is planned, so a re-run
   places no new order and, with the ledger's conditions, fills nothing twice.
3. A session before the account's latest decision: InputValidationError, nothing written (it would trade
   back in time on an account that has moved on).
4. The daily loss limit: equity at this close against the equity recorded by the previous session's
   decision; a breach records a Halt (which the executor honours too) and raises KillSwitchEngaged.
5. Plan (the account's pending orders count; candidates ranked, tradebot.trading.sizing), write the
   ranking (DecisionDetail, S3), store the Decision (conditional: with two concurrent attempts the first
   writer wins and both go on with its orders), record each order NEW, then send.

The Decision is written before the orders, with the orders in it, so a crash anywhere in between is
repaired by the next attempt (step 2) rather than re-planned from a state that already includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from tradebot import aws
from tradebot.contracts import Order, PaperTradeEvent, PaperTradeResult, S3Pointer, SignalsDocument
from tradebot.errors import InputValidationError, KillSwitchEngaged
from tradebot.pipeline.runtime import Runtime
from tradebot.store import runs
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.trading.account import Decision, DecisionDetail, Halt
from tradebot.trading.config import TradingConfig
from tradebot.trading.risk import daily_loss_breach, trading_block
from tradebot.trading.sizing import plan_orders

SendOrders = Callable[[list[Order]], None]
RecordDetail = Callable[[DecisionDetail], S3Pointer]


@dataclass(frozen=True)
class Placement:
    """The session's decision for the account and what this call did with it."""

    decision: Decision
    sent: int  # orders sent by this call
    already_recorded: int  # orders a previous attempt had recorded
    created: bool  # this call decided the session (False: an earlier one had)

    @property
    def orders(self) -> list[Order]:
        return self.decision.orders

    @property
    def notes(self) -> list[str]:
        return self.decision.notes

    @property
    def already_decided(self) -> bool:
        return not self.created


def paper_trade(event: PaperTradeEvent, rt: Runtime) -> PaperTradeResult:
    """Decide the session once for the account and queue its orders (see the module doc)."""
    if not rt.calendar.is_session(event.as_of):
        raise InputValidationError(f"as_of: {event.as_of} is not an NYSE session: nothing is decided on it")
    objects = runs.RunObjects(rt.s3, rt.settings.data_bucket)
    document = objects.get_model(event.signals, SignalsDocument)
    if (document.run_id, document.as_of) != (event.run_id, event.as_of):
        raise InputValidationError(
            f"signals s3://{event.signals.bucket}/{event.signals.key} are run {document.run_id} of "
            f"{document.as_of}, not run {event.run_id} of {event.as_of}"
        )
    account = rt.settings.account_id
    placement = place_orders(
        document,
        synthetic=event.synthetic,
        config=rt.config.load(),
        account=account,
        accounts=rt.accounts,
        ledger=rt.ledger,
        send=rt.orders_queue.send,
        now=rt.clock.now(),
        previous_session=rt.calendar.previous_session(event.as_of),
        record_detail=lambda d: objects.put_model(runs.decision_key(d.as_of, d.run_id, d.account), d),
    )
    decision = placement.decision
    return PaperTradeResult(
        run_id=event.run_id,
        as_of=event.as_of,
        orders=len(decision.orders),
        sent=placement.sent,
        already_recorded=placement.already_recorded,
        already_decided=placement.already_decided,
        candidates=decision.candidates,
        decision=decision.detail,
    )


def paper_trade_once(event: PaperTradeEvent, rt: Runtime, lambda_context: Any) -> dict[str, Any]:
    """:func:`paper_trade` behind a Powertools idempotency record keyed on (run_id, as_of).

    Step Functions retries a Task whose Lambda timed out or hit a service error even when the function
    finished; the retry then returns the recorded result instead of sizing and sending again. (Re-running
    would be harmless anyway: the ledger's conditional writes are the real guarantee.)
    """
    config = IdempotencyConfig(event_key_jmespath="[run_id, as_of]", expires_after_seconds=7 * 86_400)
    config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=_idempotency_store(rt.settings.idempotency_table),
        config=config,
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return paper_trade(PaperTradeEvent.model_validate(request), rt).model_dump(mode="json")

    result: dict[str, Any] = once(request=event.model_dump(mode="json"))
    return result


@cache
def _idempotency_store(table: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))


def pending_orders(ledger: OrderLedger, account: str) -> list[Order]:
    """The account's orders that may still fill (NEW or ACCEPTED), oldest first."""
    entries = ledger.by_status("NEW") + ledger.by_status("ACCEPTED")
    return [e.order for e in entries if e.order.account == account]


def place_orders(
    signals: SignalsDocument,
    *,
    synthetic: bool,
    config: TradingConfig,
    account: str,
    accounts: AccountStore,
    ledger: OrderLedger,
    send: SendOrders,
    now: datetime,
    previous_session: date | None,
    record_detail: RecordDetail | None = None,
) -> Placement:
    """Decide (once) and queue the orders of the ``signals``' session for ``account`` (see the module
    doc). ``record_detail`` stores the ranking and returns its pointer (None: not stored)."""
    blocked = trading_block(config, accounts.halt(account))
    if blocked is not None:
        raise KillSwitchEngaged(blocked)
    decision = accounts.decision(account, signals.as_of)
    created = False
    if decision is None:
        decision, created = _decide(
            signals, synthetic, config, account, accounts, ledger, now, previous_session, record_detail
        )
    to_send: list[Order] = []
    already = 0
    for order in decision.orders:
        if ledger.record_new(order, now):
            to_send.append(order)
            continue
        already += 1
        entry = ledger.get(order.order_id)
        if entry is not None and entry.status == "NEW":  # recorded by an attempt that failed before sending
            to_send.append(entry.order)
    send(to_send)
    return Placement(decision=decision, sent=len(to_send), already_recorded=already, created=created)


def _decide(
    event: SignalsDocument,
    synthetic: bool,
    config: TradingConfig,
    account: str,
    accounts: AccountStore,
    ledger: OrderLedger,
    now: datetime,
    previous_session: date | None,
    record_detail: RecordDetail | None,
) -> tuple[Decision, bool]:
    latest = accounts.latest_decision(account)
    if latest is not None and latest.as_of > event.as_of:
        raise InputValidationError(
            f"account {account} has already traded on {latest.as_of}: a decision for {event.as_of} would "
            "trade back in time (reset the paper account to replay earlier days)"
        )
    portfolio = accounts.load(account, config.risk.initial_capital)
    closes = {s.symbol: s.close for s in event.signals}
    equity = portfolio.equity(closes)
    previous = accounts.decision(account, previous_session) if previous_session else None
    if previous is not None:
        breach = daily_loss_breach(config.risk, previous.equity, equity)
        if breach is not None:
            accounts.set_halt(Halt(account=account, reason=breach, as_of=event.as_of, created_at=now))
            raise KillSwitchEngaged(breach)
    pending = pending_orders(ledger, account)
    plan = plan_orders(
        event.signals,
        portfolio,
        config.risk,
        run_id=event.run_id,
        as_of=event.as_of,
        now=now,
        synthetic=synthetic,
        pending=pending,
        execution=config.execution,
    )
    detail = DecisionDetail(
        account=account, as_of=event.as_of, run_id=event.run_id, candidates=plan.candidates, notes=plan.notes
    )
    # the decision keeps what is bounded by the account: closes of what it holds, has pending or orders
    kept = set(portfolio.positions) | {o.symbol for o in pending} | {o.symbol for o in plan.orders}
    return accounts.record_decision(
        Decision(
            account=account,
            as_of=event.as_of,
            run_id=event.run_id,
            equity=equity,
            closes={s: c for s, c in closes.items() if s in kept},
            orders=plan.orders,
            notes=plan.notes,
            candidates=len(plan.candidates),
            detail=record_detail(detail) if record_detail is not None else None,
            created_at=now,
        )
    )
