"""The local paper account on disk, so that `tradebot run` invocations build on each other.

The emulator (moto) keeps everything in memory: every local run starts from empty tables. So after a run
the items of the config, state and ledger tables (trading config and kill switch; cash, positions,
decisions, halt; every order and fill) are saved to one file, and restored into the fresh tables when the
next local stack starts. The next day's run then sees yesterday's positions, and a re-run of the same day
finds its decision and its orders already recorded: it places nothing new and fills nothing twice.
`tradebot reset` deletes the account (and, with --all, the config).

File: ``$TRADEBOT_STATE_DIR/account.json`` (default ``.tradebot/account.json`` in the current directory,
gitignored). DynamoDB items are kept in their typed JSON form, so a round trip is exact. The file is
written atomically (temporary file, then rename) and a lock file keeps two commands from interleaving.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from tradebot.errors import ConfigurationError, RetryableError
from tradebot.store.dynamo import pages
from tradebot_local.cfn import load_template
from tradebot_local.emulator import REGION, emulated_aws
from tradebot_local.provision import TEMPLATE, LocalDeployment, create_tables

STATE_DIR_ENV = "TRADEBOT_STATE_DIR"
DEFAULT_STATE_DIR = ".tradebot"
PERSISTED_TABLES = ("ConfigTable", "StateTable", "LedgerTable")  # logical ids in template.yaml
FORMAT = 1

Items = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class AccountFile:
    path: Path

    @classmethod
    def default(cls) -> AccountFile:
        """``$TRADEBOT_STATE_DIR/account.json``, else ``.tradebot/account.json`` in the current directory."""
        return cls(Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR) / "account.json")

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Items:
        """The saved items per table (empty when nothing was saved yet); ConfigurationError if unreadable."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"expected format {FORMAT}")
            tables = data["tables"]
            if not isinstance(tables, dict) or not all(
                isinstance(items, list) and all(isinstance(i, dict) for i in items)
                for items in tables.values()
            ):
                raise ValueError("tables must map a table to a list of items")
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"{self.path} is not a readable local account ({exc}); `tradebot reset --all` starts over"
            ) from None
        return {name: items for name, items in tables.items() if name in PERSISTED_TABLES}

    def write(self, items: Items) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT, "saved_at": datetime.now(UTC).isoformat(), "tables": items}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def restore(self, ddb: Any, tables: Mapping[str, str]) -> int:
        """Put the saved items into the (empty) tables ``tables`` (logical id -> name); returns the count."""
        count = 0
        for logical, items in self.read().items():
            for start in range(0, len(items), 25):
                requests: dict[str, Any] = {
                    tables[logical]: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                }
                while requests:  # BatchWriteItem may leave items unprocessed: send those again
                    requests = ddb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            count += len(items)
        return count

    def save(self, ddb: Any, tables: Mapping[str, str]) -> int:
        """Write every item of the persisted tables to the file; returns the count."""
        items: Items = {}
        for logical in PERSISTED_TABLES:
            items[logical] = _scan(ddb, tables[logical])
        self.write(items)
        return sum(len(v) for v in items.values())

    def reset(self, *, keep_config: bool = True) -> bool:
        """Forget the account (positions, cash, orders, decisions, halt); keep the config unless told not
        to. Returns whether there was anything to forget."""
        if not self.path.exists():
            return False
        if not keep_config:
            self.path.unlink()
            return True
        items = self.read()
        self.write({"ConfigTable": items.get("ConfigTable", [])})
        return True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the account for one command (an advisory lock file next to it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f"{self.path.name}.lock"), "w", encoding="utf-8") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RetryableError(
                    f"another tradebot command is using the local account {self.path}: try again when it ends"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items = pages(ddb.scan, TableName=table, ConsistentRead=True)
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


@dataclass
class LocalTables:
    """The persisted tables in the emulator, for the account commands (no state machine needed)."""

    ddb: Any
    tables: dict[str, str]  # logical id -> table name
    account_id: str


@contextmanager
def local_tables(account: AccountFile, *, save: bool) -> Iterator[LocalTables]:
    """The emulator with the template's tables, restored from ``account``; saved back at the end if
    ``save`` and the block succeeded."""
    with account.locked(), emulated_aws():
        dep = LocalDeployment(template=load_template(TEMPLATE))
        create_tables(dep)
        ddb = boto3.client("dynamodb", region_name=REGION)
        account.restore(ddb, dep.refs)
        account_id = str(dep.template.get("Parameters", {}).get("AccountId", {}).get("Default", "paper"))
        yield LocalTables(ddb=ddb, tables=dict(dep.refs), account_id=account_id)
        if save:
            account.save(ddb, dep.refs)
