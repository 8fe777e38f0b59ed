"""A split applied to a paper account: the SPLIT item, the position, the cash in lieu and the symbol's
pending orders change together in ONE DynamoDB transaction.

1. the SPLIT item ``SPLIT#<symbol>#<ex_date>`` (:meth:`AccountStore.split_put`), put only if absent: a
   split is applied once, whichever of PaperTrade and the executor finds it first, however often;
2. the position item: whole shares x ratio, average price / ratio (:meth:`AccountStore.
   position_split_update`, condition: the version read, so a concurrent fill is not lost);
3. the cash item: plus the cash in lieu of the fraction of a share (:meth:`AccountStore.cash_credit`);
4. each pending order (NEW or ACCEPTED) of the symbol decided before the ex-date: its quantity x ratio
   and prices / ratio, or CANCELLED when less than one share is left (:meth:`OrderLedger.amend_update`,
   condition: the status and revision read; the fill transaction is conditional on the revision, so a
   fill computed from the order before the split never lands).

The rules (ratios, whole shares, cash in lieu, limit rounding) are :mod:`tradebot.trading.corporate_actions`;
each item's layout belongs to its store. A cancelled transaction is read again and retried: if the SPLIT
item exists by then, the split was applied (by someone else) and is returned as ALREADY_APPLIED.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from tradebot.errors import RetryableError
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import LedgerEntry, OrderAmendment, OrderLedger
from tradebot.trading.account import SplitRecord
from tradebot.trading.corporate_actions import SplitFound, split_order, split_position

MAX_ATTEMPTS = 5


class SplitOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already applied"


def pending_entries(ledger: OrderLedger, account: str, symbol: str) -> list[LedgerEntry]:
    """The account's NEW or ACCEPTED orders of ``symbol``, each read again (consistent) from its item."""
    listed = ledger.by_status("NEW") + ledger.by_status("ACCEPTED")
    ids = [e.order.order_id for e in listed if e.order.account == account and e.order.symbol == symbol]
    fresh = [ledger.get(i) for i in dict.fromkeys(ids)]
    return [e for e in fresh if e is not None and not e.final]


def _amendment(entry: LedgerEntry, found: SplitFound, now: datetime) -> tuple[Any, OrderAmendment, str]:
    order = entry.order
    amended = split_order(order, found.ratio)
    reason = (
        f"a {found.text} split of {order.symbol} (ex-date {found.ex_date}) leaves less than one share of "
        f"this order ({order.quantity} x {found.text})"
        if amended is None
        else ""
    )
    amendment = OrderAmendment(
        ex_date=found.ex_date,
        ratio=found.text,
        quantity_before=order.quantity,
        quantity_after=amended.quantity if amended is not None else 0,
        reference_price_before=order.reference_price,
        reference_price_after=amended.reference_price if amended is not None else order.reference_price,
        limit_price_before=order.limit_price,
        limit_price_after=amended.limit_price if amended is not None else order.limit_price,
        at=now,
    )
    return amended, amendment, reason


def apply_split(
    ddb: Any,
    found: SplitFound,
    *,
    accounts: AccountStore,
    ledger: OrderLedger,
    now: datetime,
    applied_by: str,
) -> tuple[SplitOutcome, SplitRecord]:
    """Apply ``found`` to its account once (see the module doc): (APPLIED, the new record) or
    (ALREADY_APPLIED, the record found). The account's cash item must exist when there is cash in lieu.
    Raises RetryableError if concurrent writes keep conflicting."""
    for _ in range(MAX_ATTEMPTS):
        existing = accounts.split(found.account, found.symbol, found.ex_date)
        if existing is not None:
            return SplitOutcome.ALREADY_APPLIED, existing
        record, items = _transaction(found, accounts, ledger, now, applied_by)
        try:
            ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            continue  # the split was applied meanwhile, or a fill moved the position or an order: read again
        return SplitOutcome.APPLIED, record
    raise RetryableError(
        f"the {found.text} split of {found.symbol} kept conflicting with concurrent writes; not applied yet"
    )


def _transaction(
    found: SplitFound, accounts: AccountStore, ledger: OrderLedger, now: datetime, applied_by: str
) -> tuple[SplitRecord, list[dict[str, Any]]]:
    position = accounts.position_item(found.account, found.symbol)
    quantity, avg_price, version = position if position is not None else (0, 0.0, 0)
    after = split_position(quantity, avg_price, found.ratio, found.restated_close)
    entries = [
        e
        for e in pending_entries(ledger, found.account, found.symbol)
        if e.order.as_of < found.ex_date and not e.amended_for(found.ex_date)
    ]
    orders = [(e, *_amendment(e, found, now)) for e in entries]
    record = SplitRecord(
        account=found.account,
        symbol=found.symbol,
        ex_date=found.ex_date,
        new_shares=found.ratio.numerator,
        old_shares=found.ratio.denominator,
        reference_session=found.reference_session,
        known_close=found.known_close,
        restated_close=found.restated_close,
        source="event" if found.from_event else "detected",
        shares_before=quantity,
        shares_after=after.quantity,
        avg_price_before=avg_price,
        avg_price_after=after.avg_price,
        cash_in_lieu=after.cash_in_lieu,
        orders_adjusted=[e.order.order_id for e, amended, _, _ in orders if amended is not None],
        orders_cancelled=[e.order.order_id for e, amended, _, _ in orders if amended is None],
        applied_by=applied_by,
        created_at=now,
    )
    items = [accounts.split_put(record)]
    if position is not None and quantity > 0:
        items.append(
            accounts.position_split_update(
                found.account, found.symbol, after.quantity, after.avg_price, version, now
            )
        )
    if after.cash_in_lieu > 0:
        items.append(accounts.cash_credit(found.account, after.cash_in_lieu, now))
    items += [ledger.amend_update(e, amended, a, reason, now) for e, amended, a, reason in orders]
    return record, items


def amend_orders(
    ddb: Any, record: SplitRecord, entries: list[LedgerEntry], *, ledger: OrderLedger, now: datetime
) -> int:
    """Amend ``entries`` (orders decided before ``record``'s ex-date and not amended for it yet: recorded
    after the split was applied) for an applied split; returns how many were amended or cancelled (a
    conflicting write leaves that order as it is, for the caller to read again)."""
    found = SplitFound(
        account=record.account,
        symbol=record.symbol,
        ex_date=record.ex_date,
        ratio=record.fraction,
        reference_session=record.reference_session,
        known_close=record.known_close,
        restated_close=record.restated_close,
        from_event=record.source == "event",
    )
    done = 0
    for entry in entries:
        if entry.final or entry.order.as_of >= record.ex_date or entry.amended_for(record.ex_date):
            continue
        amended, amendment, reason = _amendment(entry, found, now)
        try:
            ddb.transact_write_items(
                TransactItems=[ledger.amend_update(entry, amended, amendment, reason, now)]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            continue
        done += 1
    return done
