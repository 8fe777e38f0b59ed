"""The local paper account file: an exact round trip of the tables' items, a clear error for a damaged
file (and no change), one command at a time, reset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.executor_env import AS_OF, NOW
from tradebot.contracts import Order, order_id_for
from tradebot.errors import ConfigurationError, RetryableError
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot_local.account_file import AccountFile, local_tables


def order() -> Order:
    return Order(
        order_id=order_id_for("paper", AS_OF, "SPY", "BUY"),
        run_id="run-1",
        account="paper",
        as_of=AS_OF,
        symbol="SPY",
        side="BUY",
        quantity=3,
        order_type="LIMIT",
        limit_price=101.25,
        reference_price=100.0,
        synthetic=True,
        created_at=NOW,
    )


def test_items_survive_a_round_trip_exactly(tmp_path: Path) -> None:
    account = AccountFile(tmp_path / "account.json")
    with local_tables(account, save=True) as local:
        OrderLedger(local.tables["LedgerTable"], local.ddb).record_new(order(), NOW)
        AccountStore(local.tables["StateTable"], local.ddb).load(local.account_id, 1_234.5)
        saved = {t: local.ddb.scan(TableName=n)["Items"] for t, n in local.tables.items()}
    with local_tables(account, save=False) as local:
        restored = {t: local.ddb.scan(TableName=n)["Items"] for t, n in local.tables.items()}
        entry = OrderLedger(local.tables["LedgerTable"], local.ddb).get(order().order_id)
        assert entry is not None and entry.order == order() and entry.status == "NEW"
        by_status = OrderLedger(local.tables["LedgerTable"], local.ddb).by_status("NEW")
        assert [e.order.order_id for e in by_status] == [order().order_id]  # the index is rebuilt too
    assert restored["LedgerTable"] == saved["LedgerTable"]
    assert restored["StateTable"] == saved["StateTable"]
    assert restored["IdempotencyTable"] == []  # not persisted: keyed on run ids, which never repeat


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": 99, "tables": {}}), "[]"])
def test_a_damaged_file_is_a_clear_error_and_is_left_alone(tmp_path: Path, content: str) -> None:
    path = tmp_path / "account.json"
    path.write_text(content)
    with (
        pytest.raises(ConfigurationError, match="tradebot reset --all"),
        local_tables(AccountFile(path), save=True),
    ):
        pass  # pragma: no cover - restoring fails first
    assert path.read_text() == content


def test_one_command_at_a_time(tmp_path: Path) -> None:
    account = AccountFile(tmp_path / "account.json")
    with account.locked(), pytest.raises(RetryableError, match="another tradebot command"), account.locked():
        pass  # pragma: no cover
    with account.locked():  # released
        pass


def test_reset_keeps_the_config_unless_told(tmp_path: Path) -> None:
    account = AccountFile(tmp_path / "account.json")
    assert account.reset() is False
    config = [{"pk": {"S": "CONFIG"}}]
    account.write({"ConfigTable": config, "StateTable": [{"pk": {"S": "x"}}], "LedgerTable": []})
    assert account.reset() is True
    assert account.read() == {"ConfigTable": config}
    assert account.reset(keep_config=False) is True
    assert not account.exists() and account.read() == {}


def test_the_default_location_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEBOT_STATE_DIR", str(tmp_path / "elsewhere"))
    assert AccountFile.default().path == tmp_path / "elsewhere" / "account.json"
    monkeypatch.delenv("TRADEBOT_STATE_DIR")
    assert AccountFile.default().path == Path(".tradebot") / "account.json"
