"""The `tradebot` CLI as a user runs it (in-process, through typer's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradebot_local.cli import app

EVENTS = Path(__file__).resolve().parents[2] / "events"
runner = CliRunner()


def test_run_json_prints_one_object_with_the_documented_fields():
    result = runner.invoke(app, ["run", "--json", "--as-of", "2025-12-30"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "SUCCEEDED"
    assert report["states"][0] == "FetchMarketData" and "PaperTrade" in report["states"]
    assert report["synthetic"] is True
    assert report["orders"] and len(report["fills"]) == len(report["orders"])
    assert {f["order_id"] for f in report["fills"]} == {o["order_id"] for o in report["orders"]}
    assert report["portfolio"]["equity"] > 0


def test_run_exits_non_zero_when_the_execution_fails():
    result = runner.invoke(app, ["run", "--json", "--as-of", "2025-12-30", "--symbols", "NOPE"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "FAILED"
    assert report["states"][-2:] == ["RecordFailure", "RunFailed"]
    assert report["orders"] == []


def test_run_rejects_a_malformed_date_before_starting():
    result = runner.invoke(app, ["run", "--as-of", "2025-02-30"])
    assert result.exit_code == 2
    assert "as_of" in result.stderr


def test_human_report_lists_states_orders_fills_and_portfolio():
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    for text in ("SUCCEEDED", "FetchMarketData", "SYNTHETIC", "Orders", "Fills", "equity"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("fetch_market_data", "fetch_market_data"),
        ("OptimizeStrategyFunction", "optimize_strategy"),
        ("generate_signals", "generate_signals"),
        ("paper_trade", "paper_trade"),
    ],
)
def test_invoke_runs_one_handler_with_its_sample_event(function, event):
    result = runner.invoke(app, ["invoke", function, "--event", str(EVENTS / f"{event}.json")])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), dict)


def test_invoke_reports_a_handler_error_like_the_runtime(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"run_id": "r"}')
    result = runner.invoke(app, ["invoke", "optimize_strategy", "--event", str(bad)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errorType"] == "InputValidationError"
