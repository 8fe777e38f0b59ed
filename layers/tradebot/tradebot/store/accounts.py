"""The paper accounts in the state table: cash, positions, each session's decision, halts and splits.

Item layout (StateTable: ``pk`` S HASH, ``sk`` S RANGE)::

    pk = "PORTFOLIO#<account>"   sk = "CASH"
        cash             N   current cash (commissions paid out of it)
        initial_capital  N   the capital the account was created / last reset with
        created_at, updated_at  S
    pk = "PORTFOLIO#<account>"   sk = "POSITION#<symbol>"
        symbol     S
        quantity   N   shares held (>= 0: the paper account is long-only); 0 once sold out
        avg_price  N   volume-weighted average buy price, commission excluded; unchanged by sells
        version    N   bumped by every fill, the optimistic lock for buys (the new average needs a read)
        updated_at S
    pk = "PORTFOLIO#<account>"   sk = "DECISION#<as_of>"      one per session, written once (PaperTrade)
        decision   S   the Decision as JSON: run, equity at the close, closes, the session's orders, notes
    pk = "PORTFOLIO#<account>"   sk = "HALT"                  present while trading is halted
        halt       S   the Halt as JSON: reason, session, when
    pk = "PORTFOLIO#<account>"   sk = "HALT#<symbol>"         present while that symbol is stopped
        halt       S   the SymbolHalt as JSON: reason, session, the close it is marked at, when
    pk = "PORTFOLIO#<account>"   sk = "SPLIT#<symbol>#<ex_date>"   one per split, written once
        split      S   the SplitRecord as JSON: ratio, ex-date, how it was found, shares and average
                       price before and after, cash in lieu, the pending orders adjusted

A fill changes the cash and position items in the same transaction as the ledger entry
(:mod:`tradebot.store.settlement`); their parts of it are :meth:`AccountStore.cash_update` and
:meth:`AccountStore.position_update`. A split changes them in the same transaction as its SPLIT item (a
conditional put: applied once) and the ledger amendments of the pending orders
(:mod:`tradebot.store.corporate_actions`); its parts are :meth:`AccountStore.split_put`,
:meth:`AccountStore.position_split_update` and :meth:`AccountStore.cash_credit`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tradebot import aws
from tradebot.contracts import Fill
from tradebot.errors import RetryableError
from tradebot.store.dynamo import num, pages, put_if_absent
from tradebot.trading.account import Book, Decision, Halt, Portfolio, Position, SplitRecord, SymbolHalt

ACCOUNT_PREFIX = "PORTFOLIO#"
CASH_SK = "CASH"
POSITION_PREFIX = "POSITION#"
DECISION_PREFIX = "DECISION#"
HALT_SK = "HALT"
SYMBOL_HALT_PREFIX = "HALT#"
SPLIT_PREFIX = "SPLIT#"


def account_pk(account: str) -> dict[str, str]:
    return {"S": f"{ACCOUNT_PREFIX}{account}"}


def split_key(account: str, symbol: str, ex_date: date) -> dict[str, Any]:
    return {"pk": account_pk(account), "sk": {"S": f"{SPLIT_PREFIX}{symbol}#{ex_date.isoformat()}"}}


class AccountStore:
    """Cash and positions of paper accounts in the state table (low-level DynamoDB client)."""

    def __init__(self, table_name: str, ddb: Any | None = None) -> None:
        self._table = table_name
        self._ddb = ddb or aws.client("dynamodb")

    @property
    def table_name(self) -> str:
        return self._table

    @property
    def client(self) -> Any:
        """The DynamoDB client (transactions that span this table and the ledger use it)."""
        return self._ddb

    def ensure(self, account: str, initial_capital: float, now: datetime | None = None) -> bool:
        """Create the account's cash item if it does not exist; True if this call created it."""
        stamp = (now or datetime.now(UTC)).isoformat()  # a timestamp only: no behaviour depends on it
        return put_if_absent(
            self._ddb,
            self._table,
            {
                "pk": account_pk(account),
                "sk": {"S": CASH_SK},
                "cash": num(float(initial_capital)),
                "initial_capital": num(float(initial_capital)),
                "created_at": {"S": stamp},
                "updated_at": {"S": stamp},
            },
        )

    def load(self, account: str, initial_capital: float) -> Portfolio:
        """The account's cash and open (non-zero) positions; creates the account on first use.

        Reads the cash item and the POSITION# items only: what a load costs is bounded by the universe,
        not by the sessions the account has decided (its DECISION# items are never read here)."""
        cash_key = {"pk": account_pk(account), "sk": {"S": CASH_SK}}
        item = self._ddb.get_item(TableName=self._table, Key=cash_key, ConsistentRead=True).get("Item")
        if item is None:
            self.ensure(account, initial_capital)
            return self.load(account, initial_capital)
        positions: dict[str, Position] = {}
        for position in self._prefixed(account, POSITION_PREFIX):
            quantity = int(float(position["quantity"]["N"]))
            if quantity != 0:
                symbol = position["symbol"]["S"]
                positions[symbol] = Position(
                    symbol=symbol, quantity=quantity, avg_price=float(position["avg_price"]["N"])
                )
        return Portfolio(account=account, cash=float(item["cash"]["N"]), positions=positions)

    def restore_book(self, account: str, book: Book, initial_capital: float, now: datetime) -> None:
        """Write ``book``'s cash and positions as the account's cash and POSITION# items (a research copy
        of an account starts from a recorded book: `tradebot reconcile`). Its pending orders are the
        ledger's."""
        stamp = {"S": now.isoformat()}
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": account_pk(account),
                "sk": {"S": CASH_SK},
                "cash": num(float(book.cash)),
                "initial_capital": num(float(initial_capital)),
                "created_at": stamp,
                "updated_at": stamp,
            },
        )
        for position in book.positions.values():
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": account_pk(account),
                    "sk": {"S": f"{POSITION_PREFIX}{position.symbol}"},
                    "symbol": {"S": position.symbol},
                    "quantity": num(position.quantity),
                    "avg_price": num(float(position.avg_price)),
                    "version": num(1),
                    "updated_at": stamp,
                },
            )

    def reset(self, account: str, initial_capital: float) -> None:
        """Delete the account's positions, decisions, halts and splits; set its cash to
        ``initial_capital`` (ledger untouched)."""
        for item in self._items(account):
            self._ddb.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})
        self.ensure(account, initial_capital)

    # --- decisions (one per account and session) and the halt ---------------------------------------

    def record_decision(self, decision: Decision) -> tuple[Decision, bool]:
        """Store ``decision`` unless one exists for its session; returns (the stored one, created?)."""
        item = {
            "pk": account_pk(decision.account),
            "sk": {"S": f"{DECISION_PREFIX}{decision.as_of.isoformat()}"},
            "decision": {"S": decision.model_dump_json()},
        }
        if put_if_absent(self._ddb, self._table, item):
            return decision, True
        existing = self.decision(decision.account, decision.as_of)
        if existing is None:  # pragma: no cover - decisions are deleted only by reset
            raise RetryableError(f"decision of {decision.as_of} vanished during a concurrent reset")
        return existing, False

    def decision(self, account: str, as_of: date) -> Decision | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": account_pk(account), "sk": {"S": f"{DECISION_PREFIX}{as_of.isoformat()}"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else Decision.model_validate_json(item["decision"]["S"])

    def latest_decision(self, account: str) -> Decision | None:
        """The decision of the account's latest session (ISO dates sort chronologically)."""
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": account_pk(account), ":prefix": {"S": DECISION_PREFIX}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return Decision.model_validate_json(items[0]["decision"]["S"]) if items else None

    def recent_decisions(self, account: str, before: date, limit: int) -> list[Decision]:
        """The account's latest ``limit`` decisions of sessions before ``before``, latest first."""
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": account_pk(account),
                ":first": {"S": DECISION_PREFIX},
                ":last": {"S": f"{DECISION_PREFIX}{(before - timedelta(days=1)).isoformat()}"},
            },
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [Decision.model_validate_json(i["decision"]["S"]) for i in page.get("Items", [])]

    def halt(self, account: str) -> Halt | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": account_pk(account), "sk": {"S": HALT_SK}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else Halt.model_validate_json(item["halt"]["S"])

    def set_halt(self, halt: Halt) -> bool:
        """Halt trading for the account; False if it was already halted (the first reason is kept)."""
        return put_if_absent(
            self._ddb,
            self._table,
            {"pk": account_pk(halt.account), "sk": {"S": HALT_SK}, "halt": {"S": halt.model_dump_json()}},
        )

    def clear_halt(self, account: str) -> Halt | None:
        """Lift the account's halt (an operator's decision); returns the halt that was lifted, if any."""
        old = self._ddb.delete_item(
            TableName=self._table,
            Key={"pk": account_pk(account), "sk": {"S": HALT_SK}},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        return None if not old else Halt.model_validate_json(old["halt"]["S"])

    # --- stopped symbols ---------------------------------------------------------------------------

    def symbol_halt(self, account: str, symbol: str) -> SymbolHalt | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": account_pk(account), "sk": {"S": f"{SYMBOL_HALT_PREFIX}{symbol}"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else SymbolHalt.model_validate_json(item["halt"]["S"])

    def symbol_halts(self, account: str) -> dict[str, SymbolHalt]:
        """Every stopped symbol of the account."""
        halts = [
            SymbolHalt.model_validate_json(item["halt"]["S"])
            for item in self._prefixed(account, SYMBOL_HALT_PREFIX)
        ]
        return {h.symbol: h for h in halts}

    def set_symbol_halt(self, halt: SymbolHalt) -> bool:
        """Stop trading ``halt.symbol``; False if it was already stopped (the first reason is kept)."""
        return put_if_absent(
            self._ddb,
            self._table,
            {
                "pk": account_pk(halt.account),
                "sk": {"S": f"{SYMBOL_HALT_PREFIX}{halt.symbol}"},
                "halt": {"S": halt.model_dump_json()},
            },
        )

    def clear_symbol_halts(self, account: str) -> list[SymbolHalt]:
        """Lift every stopped symbol (an operator's decision); the halts lifted."""
        lifted = []
        for item in self._prefixed(account, SYMBOL_HALT_PREFIX):
            old = self._ddb.delete_item(
                TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]}, ReturnValues="ALL_OLD"
            ).get("Attributes")
            if old:
                lifted.append(SymbolHalt.model_validate_json(old["halt"]["S"]))
        return lifted

    # --- splits (one item each, written in the split transaction: tradebot.store.corporate_actions) ---

    def splits(self, account: str, symbol: str | None = None) -> list[SplitRecord]:
        """The account's applied splits (of ``symbol`` only, if given), oldest ex-date first."""
        prefix = f"{SPLIT_PREFIX}{symbol}#" if symbol else SPLIT_PREFIX
        records = [SplitRecord.model_validate_json(i["split"]["S"]) for i in self._prefixed(account, prefix)]
        return sorted(records, key=lambda r: (r.ex_date, r.symbol))

    def split(self, account: str, symbol: str, ex_date: date) -> SplitRecord | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=split_key(account, symbol, ex_date), ConsistentRead=True
        ).get("Item")
        return None if item is None else SplitRecord.model_validate_json(item["split"]["S"])

    def split_put(self, record: SplitRecord) -> dict[str, Any]:
        """The SPLIT item, as one TransactWriteItems element: written only if absent (applied once)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **split_key(record.account, record.symbol, record.ex_date),
                    "split": {"S": record.model_dump_json()},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def position_item(self, account: str, symbol: str) -> tuple[int, float, int] | None:
        """(quantity, average price, version) of the position item, None if there is none."""
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": account_pk(account), "sk": {"S": f"{POSITION_PREFIX}{symbol}"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return (
            int(float(item["quantity"]["N"])),
            float(item["avg_price"]["N"]),
            int(float(item["version"]["N"])),
        )

    def position_split_update(
        self, account: str, symbol: str, quantity: int, avg_price: float, version: int, now: datetime
    ) -> dict[str, Any]:
        """Set the position's quantity and average price after a split (condition: the version read)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": account_pk(account), "sk": {"S": f"{POSITION_PREFIX}{symbol}"}},
                "UpdateExpression": "SET #q = :q, #a = :avg, #v = :next, #u = :now",
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {
                    "#q": "quantity",
                    "#a": "avg_price",
                    "#v": "version",
                    "#u": "updated_at",
                },
                "ExpressionAttributeValues": {
                    ":q": num(quantity),
                    ":avg": num(float(avg_price)),
                    ":v": num(version),
                    ":next": num(version + 1),
                    ":now": {"S": now.isoformat()},
                },
            }
        }

    def cash_credit(self, account: str, amount: float, now: datetime) -> dict[str, Any]:
        """Add ``amount`` to the cash (cash in lieu of a fractional share), as a transaction element."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": account_pk(account), "sk": {"S": CASH_SK}},
                "UpdateExpression": "SET #c = #c + :amount, #u = :now",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#c": "cash", "#u": "updated_at"},
                "ExpressionAttributeValues": {":amount": num(float(amount)), ":now": {"S": now.isoformat()}},
            }
        }

    def _prefixed(self, account: str, prefix: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": account_pk(account), ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        return list(pages(self._ddb.query, **kwargs))

    def _items(self, account: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": account_pk(account)},
            "ConsistentRead": True,
        }
        return list(pages(self._ddb.query, **kwargs))

    def cash_update(self, account: str, fill: Fill, now: datetime) -> dict[str, Any]:
        value = fill.quantity * fill.price
        names = {"#c": "cash", "#u": "updated_at"}
        if fill.side == "BUY":
            cost = value + fill.commission
            update = "SET #c = #c - :cost, #u = :now"
            condition = "attribute_exists(pk) AND #c >= :cost"
            values = {":cost": num(cost), ":now": {"S": now.isoformat()}}
        else:
            update = "SET #c = #c + :proceeds, #u = :now"
            condition = "attribute_exists(pk)"
            values = {":proceeds": num(value - fill.commission), ":now": {"S": now.isoformat()}}
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": account_pk(account), "sk": {"S": CASH_SK}},
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def position_update(self, account: str, fill: Fill, now: datetime) -> dict[str, Any]:
        key = {"pk": account_pk(account), "sk": {"S": f"{POSITION_PREFIX}{fill.symbol}"}}
        names = {"#q": "quantity", "#v": "version", "#u": "updated_at"}
        if fill.side == "SELL":
            return {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "SET #q = #q - :q, #v = #v + :one, #u = :now",
                    "ConditionExpression": "attribute_exists(pk) AND #q >= :q",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {
                        ":q": num(fill.quantity),
                        ":one": num(1),
                        ":now": {"S": now.isoformat()},
                    },
                }
            }
        current = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        held = int(float(current["quantity"]["N"])) if current else 0
        avg = float(current["avg_price"]["N"]) if current else 0.0
        quantity = held + fill.quantity
        new_avg = (held * avg + fill.quantity * fill.price) / quantity
        values: dict[str, Any] = {
            ":q": num(quantity),
            ":avg": num(new_avg),
            ":sym": {"S": fill.symbol},
            ":now": {"S": now.isoformat()},
        }
        if current is None:
            condition = "attribute_not_exists(pk)"
            values[":next"] = num(1)
        else:
            condition = "#v = :v"
            version = int(float(current["version"]["N"]))
            values[":v"] = num(version)
            values[":next"] = num(version + 1)
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": "SET #q = :q, #a = :avg, #sym = :sym, #v = :next, #u = :now",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {**names, "#a": "avg_price", "#sym": "symbol"},
                "ExpressionAttributeValues": values,
            }
        }
