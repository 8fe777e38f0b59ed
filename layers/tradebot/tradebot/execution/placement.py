"""PaperTrade's core: signals -> orders recorded in the ledger and sent to the queue, once per account and
session.

1. The kill switch, then the account's halt: KillSwitchEngaged, nothing written.
2. A session already decided for the account (a retried step, a re-run of the same day): its recorded
   orders are recorded again if missing and re-sent if still NEW; nothing new is planned, so a re-run
   places no new order and, with the ledger's conditions, fills nothing twice.
3. A session before the account's latest decision: InputValidationError, nothing written (it would trade
   back in time on an account that has moved on).
4. The daily loss limit: equity at this close against the equity recorded by the previous session's
   decision; a breach records a Halt (which the executor honours too) and raises KillSwitchEngaged.
5. Plan (the account's pending orders count), store the Decision (conditional: with two concurrent
   attempts the first writer wins and both go on with its orders), record each order NEW, then send.

The Decision is written before the orders, with the orders in it, so a crash anywhere in between is
repaired by the next attempt (step 2) rather than re-planned from a state that already includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from tradebot.config import TradingConfig
from tradebot.errors import InputValidationError, KillSwitchEngaged
from tradebot.ledger import OrderLedger
from tradebot.models import Order, PaperTradeEvent, PaperTradeResult
from tradebot.portfolio import Decision, Halt, PortfolioStore
from tradebot.trading import daily_loss_breach, plan_orders

SendOrders = Callable[[list[Order]], None]


def pending_orders(ledger: OrderLedger, account: str) -> list[Order]:
    """The account's orders that may still fill (NEW or ACCEPTED), oldest first."""
    entries = ledger.by_status("NEW") + ledger.by_status("ACCEPTED")
    return [e.order for e in entries if e.order.account == account]


def place_orders(
    event: PaperTradeEvent,
    *,
    config: TradingConfig,
    account: str,
    portfolios: PortfolioStore,
    ledger: OrderLedger,
    send: SendOrders,
    now: datetime,
    previous_session: date | None,
) -> PaperTradeResult:
    """Decide (once) and queue the orders of ``event``'s session for ``account`` (see the module doc)."""
    if config.kill_switch:
        raise KillSwitchEngaged(f"kill switch is on: {config.kill_switch_reason or 'no reason given'}")
    halt = portfolios.halt(account)
    if halt is not None:
        raise KillSwitchEngaged(f"trading halted since {halt.as_of}: {halt.reason}")
    decision = portfolios.decision(account, event.as_of)
    created = False
    if decision is None:
        decision, created = _decide(event, config, account, portfolios, ledger, now, previous_session)
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
    return PaperTradeResult(
        run_id=event.run_id,
        as_of=event.as_of,
        orders=decision.orders,
        sent=len(to_send),
        already_recorded=already,
        already_decided=not created,
        notes=decision.notes,
    )


def _decide(
    event: PaperTradeEvent,
    config: TradingConfig,
    account: str,
    portfolios: PortfolioStore,
    ledger: OrderLedger,
    now: datetime,
    previous_session: date | None,
) -> tuple[Decision, bool]:
    latest = portfolios.latest_decision(account)
    if latest is not None and latest.as_of > event.as_of:
        raise InputValidationError(
            f"account {account} has already traded on {latest.as_of}: a decision for {event.as_of} would "
            "trade back in time (reset the paper account to replay earlier days)"
        )
    portfolio = portfolios.load(account, config.risk.initial_capital)
    closes = {s.symbol: s.close for s in event.signals}
    equity = portfolio.equity(closes)
    previous = portfolios.decision(account, previous_session) if previous_session else None
    if previous is not None:
        breach = daily_loss_breach(config.risk, previous.equity, equity)
        if breach is not None:
            portfolios.set_halt(Halt(account=account, reason=breach, as_of=event.as_of, created_at=now))
            raise KillSwitchEngaged(breach)
    plan = plan_orders(
        event.signals,
        portfolio,
        config.risk,
        run_id=event.run_id,
        as_of=event.as_of,
        now=now,
        synthetic=event.synthetic,
        pending=pending_orders(ledger, account),
        execution=config.execution,
    )
    return portfolios.record_decision(
        Decision(
            account=account,
            as_of=event.as_of,
            run_id=event.run_id,
            equity=equity,
            closes=closes,
            orders=plan.orders,
            notes=plan.notes,
            created_at=now,
        )
    )
