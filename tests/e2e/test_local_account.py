"""The local paper account across `tradebot run` invocations (the real state machine in the emulator, the
account persisted under TRADEBOT_STATE_DIR, a fresh directory per test): a re-run of the same day places
nothing new and fills nothing twice, the next day sees yesterday's positions, the kill switch and reset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradebot_local.account_file import AccountFile
from tradebot_local.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()
DAY, NEXT_DAY = "2025-12-29", "2025-12-30"  # sample sessions, each with a next session to fill at


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["run", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def cli_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def run_items(state_dir: Path) -> list[dict[str, Any]]:
    tables = json.loads((state_dir / "account.json").read_text())["tables"]
    return [i for i in tables["StateTable"] if i["pk"]["S"].startswith("RUN#")]


def test_running_the_same_day_twice_fills_nothing_twice(isolated_local_account: Path) -> None:
    code, first = run_json("--as-of", DAY)
    assert code == 0 and first["status"] == "SUCCEEDED"
    assert first["orders"] and len(first["fills"]) == len(first["orders"])
    code, second = run_json("--as-of", DAY)
    assert code == 0 and second["status"] == "SUCCEEDED"
    # the same orders (decided by the first run), the same fills, the same account
    assert second["orders"] == first["orders"]
    assert {o["run_id"] for o in second["orders"]} == {first["execution_name"]}
    assert second["fills"] == first["fills"]
    assert second["portfolio"] == first["portfolio"]
    # the ledger holds each order once, filled once
    ledger = cli_json("orders")
    assert sorted(o["order_id"] for o in ledger) == sorted(o["order_id"] for o in first["orders"])
    assert {o["status"] for o in ledger} == {"FILLED"}
    # cash and positions are exactly the first run's fills
    sign = {"BUY": 1, "SELL": -1}
    spent = sum(f["quantity"] * f["price"] * sign[f["side"]] + f["commission"] for f in first["fills"])
    account = cli_json("portfolio")
    assert account["cash"] == pytest.approx(100_000 - spent, abs=0.01)
    assert {p["symbol"]: p["quantity"] for p in account["positions"]} == {
        f["symbol"]: f["quantity"] for f in first["fills"]
    }


def test_the_next_day_sees_yesterdays_positions_and_an_earlier_day_is_refused(
    isolated_local_account: Path,
) -> None:
    _, day = run_json("--as-of", DAY)
    held = {p: q["quantity"] for p, q in day["portfolio"]["positions"].items()}
    assert held
    code, next_day = run_json("--as-of", NEXT_DAY)
    assert code == 0, next_day["cause"]
    # yesterday's positions are there: the next day only trades the difference to its targets
    for order in next_day["orders"]:
        if order["symbol"] in held and order["side"] == "BUY":
            assert order["quantity"] < held[order["symbol"]]
    ledger = cli_json("orders")
    assert {o["as_of"] for o in ledger} == {DAY} | ({NEXT_DAY} if next_day["orders"] else set())
    before = (isolated_local_account / "account.json").read_text()
    # going back to the first day after the second: refused, nothing traded
    code, back = run_json("--as-of", "2025-12-26")
    assert code == 1 and back["status"] == "FAILED" and back["orders"] == []
    failures = [i for i in run_items(isolated_local_account) if i["status"]["S"] == "FAILED"]
    assert [f["error"]["S"] for f in failures] == ["InputValidationError"]
    after = json.loads((isolated_local_account / "account.json").read_text())["tables"]
    assert after["LedgerTable"] == json.loads(before)["tables"]["LedgerTable"]


def test_kill_switch_and_reset(isolated_local_account: Path) -> None:
    assert runner.invoke(app, ["kill-switch", "on", "--reason", "weekend review"]).exit_code == 0
    assert cli_json("portfolio")["kill_switch"] == {"on": True, "reason": "weekend review"}
    code, halted = run_json("--as-of", DAY)
    assert code == 1 and halted["orders"] == []
    assert [i["error"]["S"] for i in run_items(isolated_local_account)] == ["KillSwitchEngaged"]
    assert cli_json("orders") == []
    assert "kill switch off" in runner.invoke(app, ["kill-switch", "off"]).stdout
    code, traded = run_json("--as-of", DAY)
    assert code == 0 and traded["fills"]
    # reset: a fresh account, the config kept
    runner.invoke(app, ["kill-switch", "on"])
    assert runner.invoke(app, ["reset", "--yes"]).exit_code == 0
    account = cli_json("portfolio")
    assert (account["cash"], account["positions"], account["last_decision"]) == (100_000.0, [], None)
    assert account["kill_switch"]["on"] is True
    assert cli_json("orders") == []
    assert runner.invoke(app, ["reset", "--all", "--yes"]).exit_code == 0
    assert not AccountFile.default().exists()
    assert cli_json("portfolio")["kill_switch"]["on"] is False
