"""The fill: ledger entry, cash and position change together in ONE DynamoDB transaction.

1. the ledger entry ACCEPTED -> FILLED with the Fill (:meth:`OrderLedger.fill_update`: its condition is
   the lifecycle table's, and the order's revision the fill was computed from: a split that amended the
   order meanwhile cancels the transaction);
2. the cash item: ``cash -= qty*price + commission`` for a buy (condition ``cash >= cost``),
   ``cash += qty*price - commission`` for a sell (:meth:`AccountStore.cash_update`);
3. the position item: a buy sets quantity and average price (condition: the version read), a sell
   subtracts its quantity (condition ``quantity >= qty``) (:meth:`AccountStore.position_update`).

So a redelivered message, a crash between the write and the SQS delete, or two executors cannot fill an
order twice: whichever writes second finds the ledger entry no longer ACCEPTED and the whole transaction
is cancelled. Each item's layout belongs to its store; this module only assembles the transaction and
reads its outcome.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from tradebot.contracts import Fill, Order
from tradebot.errors import RetryableError
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger

MAX_ATTEMPTS = 5  # optimistic-lock / transaction-conflict retries of one fill


class FillOutcome(StrEnum):
    FILLED = "filled"
    DUPLICATE = "already processed"  # the ledger entry was no longer ACCEPTED: filled (or closed) before
    INSUFFICIENT_CASH = "insufficient cash"
    SELL_EXCEEDS_POSITION = "sell exceeds position"


def apply_fill(
    ddb: Any,
    order: Order,
    fill: Fill,
    *,
    ledger: OrderLedger,
    accounts: AccountStore,
    now: datetime,
    revision: int = 0,
) -> FillOutcome:
    """Record ``fill`` of ``order`` in the ledger, cash and position atomically (see the module doc).

    The account's cash item must exist (:meth:`AccountStore.ensure`). ``revision``: the ledger entry's
    revision ``order`` is (tradebot.store.ledger). Returns FILLED, DUPLICATE (the ledger entry was not
    ACCEPTED at that revision: nothing written), or INSUFFICIENT_CASH / SELL_EXCEEDS_POSITION (nothing
    written; the caller rejects the order). Raises RetryableError if concurrent fills keep conflicting.
    """
    if (fill.order_id, fill.symbol, fill.side) != (order.order_id, order.symbol, order.side):
        raise ValueError(f"fill {fill.order_id} does not belong to order {order.order_id}")
    for _ in range(MAX_ATTEMPTS):
        items = [
            ledger.fill_update(order.order_id, fill, now, revision),
            accounts.cash_update(order.account, fill, now),
            accounts.position_update(order.account, fill, now),
        ]
        try:
            ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            outcome = _cancelled_outcome(fill, codes)
            if outcome is not None:
                return outcome
            continue  # a concurrent fill moved the position (version) or a transaction conflict: retry
        return FillOutcome.FILLED
    raise RetryableError(f"fill of order {order.order_id} kept conflicting with concurrent writes")


def _cancelled_outcome(fill: Fill, codes: list[str]) -> FillOutcome | None:
    """What a cancelled fill transaction means; None: retry (version moved, or a transaction conflict)."""
    ledger_code, cash_code, position_code = (codes + ["None"] * 3)[:3]
    if ledger_code == "ConditionalCheckFailed":
        return FillOutcome.DUPLICATE
    if cash_code == "ConditionalCheckFailed" and fill.side == "BUY":
        return FillOutcome.INSUFFICIENT_CASH
    if position_code == "ConditionalCheckFailed" and fill.side == "SELL":
        return FillOutcome.SELL_EXCEEDS_POSITION
    if "ConditionalCheckFailed" in codes and fill.side == "SELL":
        # the cash item is missing (the account was never created): nothing to sell from
        return FillOutcome.SELL_EXCEEDS_POSITION
    return None
