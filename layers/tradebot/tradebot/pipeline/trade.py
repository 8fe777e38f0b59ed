"""PaperTrade: the run's signals (one S3 object) -> orders recorded in the ledger and sent to the queue,
once per account and session.

1. The trading gate (tradebot.trading.risk: the kill switch, then the account's halt): KillSwitchEngaged,
   nothing written.
2. A session already decided for the account (a retried step, a re-run of the same day): its recorded
   orders are recorded again if missing and re-sent if still NEW; nothing new is planned, so a re-run
   places no new order and, with the ledger's conditions, fills nothing twice.
3. A session before the account's latest decision: InputValidationError, nothing written (it would trade
   back in time on an account that has moved on).
4. Corporate actions (tradebot.trading.corporate_actions), before anything is valued: for each symbol the
   account holds or has pending, the last close a recent decision recorded is compared with the same
   session's close in today's data (the signal's ``recent_closes``). A split is applied to the account
   once (the SPLIT item, the position, the cash in lieu and the pending orders in one transaction:
   tradebot.store.corporate_actions); a restatement no split explains stops that symbol (a SymbolHalt:
   no order of it is placed or filled, it is marked at its last recorded close) until an operator lifts
   it. Stopped symbols are not traded; held symbols without a usable close today are marked at their
   last recorded close (``Decision.marks``), never at a restated one.
5. The daily loss limit: equity at this close against the equity recorded by the previous session's
   decision; a breach records a Halt (which the executor honours too) and raises KillSwitchEngaged.
6. Plan (the account's pending orders count; candidates ranked, tradebot.trading.sizing), write the
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
from tradebot.store.corporate_actions import SplitOutcome, apply_split
from tradebot.store.ledger import OrderLedger
from tradebot.trading.account import (
    Book,
    Decision,
    DecisionDetail,
    Halt,
    Portfolio,
    SplitRecord,
    SymbolHalt,
)
from tradebot.trading.config import TradingConfig
from tradebot.trading.corporate_actions import CloseChange, recorded_factor, review_closes
from tradebot.trading.risk import daily_loss_breach, trading_block
from tradebot.trading.sizing import plan_orders

SendOrders = Callable[[list[Order]], None]
# decisions searched for a symbol's last recorded close: as many as the closes a signal carries before its
# bar (tradebot.pipeline.signals.RECENT_BARS), beyond which today's data could not be compared anyway
RECENT_DECISIONS = 5
RecordDetail = Callable[[DecisionDetail], S3Pointer]


@dataclass(frozen=True)
class Placement:
    """The session's decision for the account and what this call did with it."""

    decision: Decision
    sent: int  # orders sent by this call
    already_recorded: int  # orders a previous attempt had recorded
    created: bool  # this call decided the session (False: an earlier one had)
    stopped: int = 0  # symbols of the account stopped (not traded) until an operator lifts them

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
        corporate_actions=len(decision.corporate_actions),
        stopped=placement.stopped,
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
    return Placement(
        decision=decision,
        sent=len(to_send),
        already_recorded=already,
        created=created,
        stopped=len(accounts.symbol_halts(account)),
    )


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
    pending = pending_orders(ledger, account)
    book = Book.of(portfolio, pending)
    review = _corporate_actions(event, account, latest, portfolio, pending, accounts, ledger, now)
    if review.changed:  # a split moved shares, cash or pending orders: value what the account holds now
        portfolio = accounts.load(account, config.risk.initial_capital)
        pending = pending_orders(ledger, account)
    halts = accounts.symbol_halts(account)
    # the one trading gate, per symbol: a stopped symbol gets no order (the kill switch and the account's
    # halt were checked before deciding)
    signals = [s for s in event.signals if trading_block(config, None, halts.get(s.symbol)) is None]
    closes = {s.symbol: s.close for s in signals}
    marks = _marks(portfolio, closes, halts, latest, review.records, event.as_of)
    equity = portfolio.equity(closes | marks)
    previous = accounts.decision(account, previous_session) if previous_session else None
    if previous is not None:
        breach = daily_loss_breach(config.risk, previous.equity, equity)
        if breach is not None:
            accounts.set_halt(Halt(account=account, reason=breach, as_of=event.as_of, created_at=now))
            raise KillSwitchEngaged(breach)
    plan = plan_orders(
        signals,
        portfolio,
        config.risk,
        run_id=event.run_id,
        as_of=event.as_of,
        now=now,
        synthetic=synthetic,
        pending=pending,
        execution=config.execution,
        marks=marks,
    )
    wanted = {s.symbol for s in event.signals} | set(portfolio.positions) | {o.symbol for o in pending}
    stopped = [
        f"{h.symbol}: not traded: stopped since {h.as_of}: {h.reason} (tradebot kill-switch off lifts it)"
        for h in halts.values()
        if h.symbol in wanted and h.symbol not in review.stopped
    ]
    notes = review.notes + stopped + plan.notes
    detail = DecisionDetail(
        account=account, as_of=event.as_of, run_id=event.run_id, candidates=plan.candidates, notes=notes
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
            notes=notes,
            candidates=len(plan.candidates),
            detail=record_detail(detail) if record_detail is not None else None,
            created_at=now,
            marks={s: m for s, m in marks.items() if s in kept},
            corporate_actions=review.applied,
            book=book,
        )
    )


@dataclass
class _Review:
    """What the corporate-actions step found and did."""

    records: list[SplitRecord]  # every split applied to the account (after this step)
    applied: list[SplitRecord]  # splits on held or pending symbols since the previous decision
    notes: list[str]
    changed: bool  # a split was applied: shares, cash or pending orders may have changed
    stopped: set[str]  # symbols this step stopped (an unexplained restatement)


def _corporate_actions(
    event: SignalsDocument,
    account: str,
    latest: Decision | None,
    portfolio: Portfolio,
    pending: list[Order],
    accounts: AccountStore,
    ledger: OrderLedger,
    now: datetime,
) -> _Review:
    """Step 4 of the module doc: splits applied once, unexplained restatements stop their symbol."""
    records = accounts.splits(account)
    if latest is None:
        return _Review(records, [], [], False, set())
    halts = accounts.symbol_halts(account)
    watched = sorted((set(portfolio.positions) | {o.symbol for o in pending}) - set(halts))
    signals = {s.symbol: s for s in event.signals}
    notes: list[str] = []
    changed = False
    stopped: set[str] = set()
    # the latest close each symbol has on record: a day it had none (withheld, stopped) does not lose it
    references = accounts.recent_decisions(account, event.as_of, RECENT_DECISIONS)
    for review in review_closes(watched, references, signals, records, event.splits, event.as_of):
        if review.change is CloseChange.SPLIT:
            found = review.split(account)
            outcome, record = apply_split(
                accounts.client,
                found,
                accounts=accounts,
                ledger=ledger,
                now=now,
                applied_by=f"PaperTrade (run {event.run_id})",
            )
            # applied now, or by the executor a moment ago: either way the account read before is stale
            changed = True
            notes.append(split_note(record) + ("" if outcome is SplitOutcome.APPLIED else " (already)"))
        elif review.change is CloseChange.UNEXPLAINED:
            reason = (
                f"{review.describe()}: not traded, and marked at {review.known_close:,.6g} (its recorded "
                "close), until an operator lifts it"
            )
            accounts.set_symbol_halt(
                SymbolHalt(
                    account=account,
                    symbol=review.symbol,
                    reason=reason,
                    as_of=event.as_of,
                    mark=review.known_close,
                    created_at=now,
                )
            )
            stopped.add(review.symbol)
            notes.append(f"{review.symbol}: STOPPED: {reason} (tradebot kill-switch off)")
        elif review.change is None:
            notes.append(review.describe())
        elif review.change is CloseChange.CORRECTED:
            notes.append(f"{review.describe()}: taken as the source's correction of that bar")
    if changed:
        records = accounts.splits(account)
    held = set(portfolio.positions) | {o.symbol for o in pending}
    applied = [r for r in records if r.symbol in held and latest.as_of < r.ex_date <= event.as_of]
    return _Review(records, applied, notes, changed, stopped)


def split_note(record: SplitRecord) -> str:
    """What a split did to the account, and how it was found, in one line."""
    found = (
        "the source's split event"
        if record.source == "event"
        else f"the {record.reference_session} close was {record.known_close:,.6g} when recorded, "
        f"{record.restated_close:,.6g} in today's data"
    )
    text = (
        f"{record.symbol}: {record.ratio_text} split applied (ex-date {record.ex_date}; {found}): "
        f"{record.shares_before} -> {record.shares_after} shares, average price "
        f"{record.avg_price_before:,.4f} -> {record.avg_price_after:,.4f}"
    )
    if record.cash_in_lieu:
        text += f", cash in lieu {record.cash_in_lieu:,.2f}"
    if record.orders_adjusted:
        text += f", pending orders adjusted: {', '.join(record.orders_adjusted)}"
    if record.orders_cancelled:
        text += f", pending orders cancelled (less than one share): {', '.join(record.orders_cancelled)}"
    return text


def _marks(
    portfolio: Portfolio,
    closes: dict[str, float],
    halts: dict[str, SymbolHalt],
    latest: Decision | None,
    records: list[SplitRecord],
    session: date,
) -> dict[str, float]:
    """Prices of held symbols without a usable close this session: a stopped symbol's mark, else the
    last close recorded for it (converted by the splits recorded since), else none (its average price)."""
    marks: dict[str, float] = {}
    for symbol in portfolio.positions:
        if symbol in closes:
            continue
        halt = halts.get(symbol)
        mark = halt.mark if halt is not None else None
        if mark is None and latest is not None:
            if symbol in latest.closes:
                factor = recorded_factor(records, symbol, latest.as_of, session)
                mark = latest.closes[symbol] / float(factor)
            else:
                mark = latest.marks.get(symbol)
        if mark is not None:
            marks[symbol] = mark
    return marks
