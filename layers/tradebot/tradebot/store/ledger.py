"""The order ledger: one DynamoDB item per order, moved through its lifecycle by conditional writes.

Item layout (LedgerTable: ``pk`` S HASH, ``sk`` S RANGE; GSI ``by_status``: ``status`` S HASH,
``as_of`` S RANGE, projection ALL)::

    pk = "ORDER#<order_id>"   sk = "ORDER"
        order_id, run_id, account, symbol, side   S  (denormalized from the order, for the console)
        as_of         S   the order's decision session, ISO date (the GSI's range key)
        status        S   NEW | ACCEPTED | FILLED | CANCELLED | REJECTED (the GSI's hash key)
        order         S   the Order as JSON (the immutable part)
        reason        S   why it was rejected or cancelled ("" otherwise)
        fill          S   the Fill as JSON (FILLED only)
        recorded_at   S   ISO datetime of record_new
        updated_at    S   ISO datetime of the last transition
        revision      N   amendments made to the order (absent: none)
        amendments    L   each amendment as JSON (OrderAmendment: the split it adjusted the order for,
                          quantity and prices before and after), oldest first

An order stays the same order through its lifecycle, with one exception: a split of its symbol between
its decision and its fill (tradebot.store.corporate_actions) amends its quantity and prices while it is
NEW or ACCEPTED, in the split's transaction; ``order`` then holds the amended order, ``amendments`` what
it was, and ``revision`` counts them. A fill is conditional on the revision it was computed from, so a
fill computed from the order before an amendment never lands.

The lifecycle is :data:`TRANSITIONS`; every write below is one conditional write derived from it, so
each edge happens at most once::

    (none) -> NEW -> ACCEPTED -> FILLED      (FILLED: in the fill transaction, tradebot.store.settlement)
              NEW | ACCEPTED -> REJECTED | CANCELLED

A transition whose condition fails returns ``False``: the order was already past that state.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from tradebot import aws
from tradebot.contracts import Contract, Fill, Order
from tradebot.store.dynamo import is_conditional_failure, pages, put_if_absent

OrderStatus = Literal["NEW", "ACCEPTED", "FILLED", "CANCELLED", "REJECTED"]
STATUSES: tuple[OrderStatus, ...] = ("NEW", "ACCEPTED", "FILLED", "CANCELLED", "REJECTED")  # lifecycle order
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    "NEW": frozenset({"ACCEPTED", "REJECTED", "CANCELLED"}),
    "ACCEPTED": frozenset({"FILLED", "REJECTED", "CANCELLED"}),
    "FILLED": frozenset(),
    "CANCELLED": frozenset(),
    "REJECTED": frozenset(),
}
FINAL_STATUSES: frozenset[OrderStatus] = frozenset(s for s, moves in TRANSITIONS.items() if not moves)

ORDER_PREFIX = "ORDER#"
ORDER_SK = "ORDER"
STATUS_INDEX = "by_status"
_NAMES = {"#s": "status", "#r": "reason", "#u": "updated_at"}
_AMEND_NAMES = {
    "#s": "status",
    "#r": "reason",
    "#o": "order",
    "#rev": "revision",
    "#am": "amendments",
    "#u": "updated_at",
}


def sources(to: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order may move to ``to`` from, in lifecycle order."""
    return tuple(s for s in STATUSES if to in TRANSITIONS[s])


def _status_condition(to: OrderStatus, values: dict[str, Any]) -> str:
    """``#s IN (...)`` over :func:`sources` of ``to``; adds the placeholders' values to ``values``."""
    placeholders = []
    for i, status in enumerate(sources(to)):
        values[f":from{i}"] = {"S": status}
        placeholders.append(f":from{i}")
    return f"#s IN ({', '.join(placeholders)})"


class OrderAmendment(Contract):
    """A change of an order's quantity and prices for a split of its symbol (the split's ex-date and
    ratio), with the values before and after."""

    ex_date: date
    ratio: str  # "4:1"
    quantity_before: int
    quantity_after: int  # 0: the order was cancelled (less than one share left)
    reference_price_before: float
    reference_price_after: float
    limit_price_before: float | None = None
    limit_price_after: float | None = None
    at: datetime


class LedgerEntry(Contract):
    order: Order
    status: OrderStatus
    reason: str = ""
    fill: Fill | None = None
    updated_at: datetime
    revision: int = 0  # amendments made to the order (each in ``amendments``)
    amendments: list[OrderAmendment] = Field(default_factory=list)

    def amended_for(self, ex_date: date) -> bool:
        """True if the order was already amended for the split that took effect on ``ex_date``."""
        return any(a.ex_date == ex_date for a in self.amendments)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


def order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{ORDER_PREFIX}{order_id}"}, "sk": {"S": ORDER_SK}}


class OrderLedger:
    """Orders and their fills in the ledger table (low-level DynamoDB client)."""

    def __init__(self, table_name: str, ddb: Any | None = None) -> None:
        self._table = table_name
        self._ddb = ddb or aws.client("dynamodb")

    @property
    def table_name(self) -> str:
        return self._table

    # --- writes --------------------------------------------------------------------------------------

    def record_new(self, order: Order, now: datetime) -> bool:
        """Record ``order`` as NEW; False if its id was already recorded (whatever its state)."""
        stamp = now.isoformat()
        item = {
            **order_key(order.order_id),
            "order_id": {"S": order.order_id},
            "run_id": {"S": order.run_id},
            "account": {"S": order.account},
            "symbol": {"S": order.symbol},
            "side": {"S": order.side},
            "as_of": {"S": order.as_of.isoformat()},
            "status": {"S": "NEW"},
            "order": {"S": order.model_dump_json()},
            "reason": {"S": ""},
            "recorded_at": {"S": stamp},
            "updated_at": {"S": stamp},
        }
        return put_if_absent(self._ddb, self._table, item)

    def accept(self, order_id: str, now: datetime) -> bool:
        """NEW -> ACCEPTED."""
        return self._transition(order_id, "ACCEPTED", "", now)

    def reject(self, order_id: str, reason: str, now: datetime) -> bool:
        """NEW | ACCEPTED -> REJECTED, with the reason."""
        return self._transition(order_id, "REJECTED", reason, now)

    def cancel(self, order_id: str, reason: str, now: datetime) -> bool:
        """NEW | ACCEPTED -> CANCELLED, with the reason."""
        return self._transition(order_id, "CANCELLED", reason, now)

    def fill_update(self, order_id: str, fill: Fill, now: datetime, revision: int = 0) -> dict[str, Any]:
        """The ACCEPTED -> FILLED write, as one TransactWriteItems element (tradebot.store.settlement);
        ``revision``: the order's revision the fill was computed from (an amended order must be filled
        as amended)."""
        values: dict[str, Any] = {
            ":filled": {"S": "FILLED"},
            ":fill": {"S": fill.model_dump_json()},
            ":now": {"S": now.isoformat()},
        }
        condition = f"{_status_condition('FILLED', values)} AND {_revision_condition(revision, values)}"
        return {
            "Update": {
                "TableName": self._table,
                "Key": order_key(order_id),
                "UpdateExpression": "SET #s = :filled, #f = :fill, #u = :now",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {
                    "#s": "status",
                    "#f": "fill",
                    "#u": "updated_at",
                    "#rev": "revision",
                },
                "ExpressionAttributeValues": values,
            }
        }

    def amend_update(
        self, entry: LedgerEntry, amended: Order | None, amendment: OrderAmendment, reason: str, now: datetime
    ) -> dict[str, Any]:
        """An amendment of a NEW or ACCEPTED order for a split, as one TransactWriteItems element
        (tradebot.store.corporate_actions): ``amended`` replaces the order, or, None, the order is
        CANCELLED with ``reason``. Conditional on the status and the revision of ``entry``."""
        order_id = entry.order.order_id
        if amended is not None and amended.order_id != order_id:
            raise ValueError(f"an amendment of order {order_id} cannot change its id")
        values: dict[str, Any] = {
            ":next": {"N": str(entry.revision + 1)},
            ":am": {"L": [{"S": amendment.model_dump_json()}]},
            ":empty": {"L": []},
            ":now": {"S": now.isoformat()},
        }
        appended = "#rev = :next, #am = list_append(if_not_exists(#am, :empty), :am), #u = :now"
        if amended is not None:
            update = f"SET #o = :order, {appended}"
            values[":order"] = {"S": amended.model_dump_json()}
        else:
            update = f"SET #s = :cancelled, #r = :r, {appended}"
            values[":cancelled"] = {"S": "CANCELLED"}
            values[":r"] = {"S": reason}
        # NEW or ACCEPTED (the statuses an order may be cancelled from: it may still fill), at its revision
        pending = _status_condition("CANCELLED", values)
        condition = f"attribute_exists(pk) AND {pending} AND {_revision_condition(entry.revision, values)}"
        return {
            "Update": {
                "TableName": self._table,
                "Key": order_key(order_id),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {
                    k: _AMEND_NAMES[k] for k in set(re.findall(r"#\w+", f"{update} {condition}"))
                },
                "ExpressionAttributeValues": values,
            }
        }

    def _transition(self, order_id: str, to: OrderStatus, reason: str, now: datetime) -> bool:
        values: dict[str, Any] = {":to": {"S": to}, ":r": {"S": reason}, ":now": {"S": now.isoformat()}}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=order_key(order_id),
                UpdateExpression="SET #s = :to, #r = :r, #u = :now",
                ConditionExpression=f"attribute_exists(pk) AND {_status_condition(to, values)}",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, order_id: str) -> LedgerEntry | None:
        item = self._ddb.get_item(TableName=self._table, Key=order_key(order_id), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else entry_from_item(item)

    def by_status(self, status: OrderStatus) -> list[LedgerEntry]:
        """Entries in ``status``, oldest session first (GSI: eventually consistent)."""
        return self._query_index(status, None, None)

    def list_orders(self, as_of: date | None = None, run_id: str | None = None) -> list[LedgerEntry]:
        """Every order (of session ``as_of`` / run ``run_id`` if given), sorted by session, time and id.

        One GSI query per status, in lifecycle order: an order moving forward between two queries is seen
        at least once and the most advanced sighting wins.
        """
        latest: dict[str, LedgerEntry] = {}
        for status in STATUSES:
            for entry in self._query_index(status, as_of, run_id):
                seen = latest.get(entry.order.order_id)
                if seen is None or STATUSES.index(entry.status) > STATUSES.index(seen.status):
                    latest[entry.order.order_id] = entry
        return sorted(latest.values(), key=lambda e: (e.order.as_of, e.order.created_at, e.order.order_id))

    def _query_index(self, status: str, as_of: date | None, run_id: str | None) -> list[LedgerEntry]:
        condition = "#s = :s"
        values: dict[str, Any] = {":s": {"S": status}}
        names = {"#s": "status"}
        if as_of is not None:
            condition += " AND #a = :a"
            names["#a"] = "as_of"
            values[":a"] = {"S": as_of.isoformat()}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if run_id is not None:
            kwargs["FilterExpression"] = "#run = :run"
            names["#run"] = "run_id"
            values[":run"] = {"S": run_id}
        return [entry_from_item(item) for item in pages(self._ddb.query, **kwargs)]


def _revision_condition(revision: int, values: dict[str, Any]) -> str:
    """The entry is still at ``revision`` (absent: 0); adds the placeholder's value to ``values``."""
    values[":rev"] = {"N": str(revision)}
    if revision == 0:
        return "(attribute_not_exists(#rev) OR #rev = :rev)"
    return "#rev = :rev"


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    fill = item.get("fill", {}).get("S")
    amendments = [OrderAmendment.model_validate_json(a["S"]) for a in item.get("amendments", {}).get("L", [])]
    return LedgerEntry(
        order=Order.model_validate_json(item["order"]["S"]),
        status=item["status"]["S"],
        reason=item.get("reason", {}).get("S", ""),
        fill=Fill.model_validate_json(fill) if fill else None,
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        revision=int(item.get("revision", {}).get("N", "0")),
        amendments=amendments,
    )
