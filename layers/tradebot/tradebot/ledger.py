"""The order ledger: one DynamoDB item per order, moved through its states by conditional writes.

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

State machine (each edge is one conditional write, so it happens exactly once)::

    NEW -> ACCEPTED -> FILLED      (FILLED is written by the fill transaction, see tradebot.portfolio)
    NEW | ACCEPTED -> REJECTED | CANCELLED

A transition whose condition fails returns ``False``: the order was already past that state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from tradebot import aws
from tradebot.models import Contract, Fill, Order, OrderStatus

ORDER_PREFIX = "ORDER#"
ORDER_SK = "ORDER"
STATUS_INDEX = "by_status"
STATUSES: tuple[OrderStatus, ...] = ("NEW", "ACCEPTED", "FILLED", "CANCELLED", "REJECTED")  # lifecycle order
FINAL_STATUSES: frozenset[str] = frozenset({"FILLED", "CANCELLED", "REJECTED"})
_NAMES = {"#s": "status", "#r": "reason", "#u": "updated_at"}


class LedgerEntry(Contract):
    order: Order
    status: OrderStatus
    reason: str = ""
    fill: Fill | None = None
    updated_at: datetime

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


def order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{ORDER_PREFIX}{order_id}"}, "sk": {"S": ORDER_SK}}


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def put_if_absent(ddb: Any, table: str, item: dict[str, Any]) -> bool:
    """Put ``item`` only if its key is not taken; True if this call created it, False if it existed."""
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


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
        return self._transition(order_id, "ACCEPTED", ("NEW",), "", now)

    def reject(self, order_id: str, reason: str, now: datetime) -> bool:
        """NEW | ACCEPTED -> REJECTED, with the reason."""
        return self._transition(order_id, "REJECTED", ("NEW", "ACCEPTED"), reason, now)

    def cancel(self, order_id: str, reason: str, now: datetime) -> bool:
        """NEW | ACCEPTED -> CANCELLED, with the reason."""
        return self._transition(order_id, "CANCELLED", ("NEW", "ACCEPTED"), reason, now)

    def fill_update(self, order_id: str, fill: Fill, now: datetime) -> dict[str, Any]:
        """The ACCEPTED -> FILLED write, as one TransactWriteItems element (see PortfolioStore.apply_fill)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": order_key(order_id),
                "UpdateExpression": "SET #s = :filled, #f = :fill, #u = :now",
                "ConditionExpression": "#s = :accepted",
                "ExpressionAttributeNames": {"#s": "status", "#f": "fill", "#u": "updated_at"},
                "ExpressionAttributeValues": {
                    ":filled": {"S": "FILLED"},
                    ":accepted": {"S": "ACCEPTED"},
                    ":fill": {"S": fill.model_dump_json()},
                    ":now": {"S": now.isoformat()},
                },
            }
        }

    def _transition(
        self, order_id: str, to: OrderStatus, allowed_from: tuple[str, ...], reason: str, now: datetime
    ) -> bool:
        values: dict[str, Any] = {":to": {"S": to}, ":r": {"S": reason}, ":now": {"S": now.isoformat()}}
        placeholders = []
        for i, status in enumerate(allowed_from):
            values[f":from{i}"] = {"S": status}
            placeholders.append(f":from{i}")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=order_key(order_id),
                UpdateExpression="SET #s = :to, #r = :r, #u = :now",
                ConditionExpression=f"attribute_exists(pk) AND #s IN ({', '.join(placeholders)})",
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
        entries: list[LedgerEntry] = []
        while True:
            page = self._ddb.query(**kwargs)
            entries.extend(entry_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return entries
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    fill = item.get("fill", {}).get("S")
    return LedgerEntry(
        order=Order.model_validate_json(item["order"]["S"]),
        status=item["status"]["S"],
        reason=item.get("reason", {}).get("S", ""),
        fill=Fill.model_validate_json(fill) if fill else None,
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
    )
