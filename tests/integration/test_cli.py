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


def test_run_json_says_why_a_request_is_refused_before_any_execution():
    result = runner.invoke(app, ["run", "--json", "--strategy", "nosuch"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert (report["status"], report["failed_state"], report["error_type"]) == (
        "REFUSED",
        None,
        "InputValidationError",
    )
    assert "unknown strategy 'nosuch'" in report["error_message"]


def _event(tmp_path: Path, name: str, **changes: object) -> Path:
    event = json.loads((EVENTS / f"{name}.json").read_text()) | changes
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(event))
    return path


@pytest.mark.parametrize(
    ("as_of", "says"),
    [
        ("2025-13-40", "month value is outside expected range"),
        ("2030-01-02", "outside the trading calendar's range"),
    ],
)
def test_invoke_an_event_its_upstream_steps_cannot_run_for_is_one_line_and_exit_2(tmp_path, as_of, says):
    result = runner.invoke(
        app, ["invoke", "paper_trade", "--event", str(_event(tmp_path, "paper_trade", as_of=as_of))]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(
        "InputValidationError: could not prepare the objects this event points at"
    )
    assert says in result.stderr and "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2


@pytest.mark.parametrize("as_of", ["2025-12-25", "2023-12-23"])  # Christmas; a Saturday
def test_invoke_paper_trade_on_a_closed_day_is_answered_by_the_handlers_own_check(tmp_path, as_of):
    result = runner.invoke(
        app, ["invoke", "paper_trade", "--event", str(_event(tmp_path, "paper_trade", as_of=as_of))]
    )
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)
    assert error["errorType"] == "InputValidationError"
    assert f"as_of: {as_of} is not an NYSE session" in error["errorMessage"]


@pytest.mark.parametrize(
    ("function", "changes"),
    [
        ("optimize_strategy", {"batch": "not-an-object"}),
        ("optimize_strategy", {"as_of": "2025-12-25"}),
        ("generate_signals", {"as_of": "2025-12-25"}),
        ("paper_trade", {"run_id": 7}),
    ],
)
def test_invoke_never_prints_a_traceback_for_a_bad_event(tmp_path, function, changes):
    result = runner.invoke(app, ["invoke", function, "--event", str(_event(tmp_path, function, **changes))])
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:  # the handler's error, shaped as the Lambda runtime shapes it
        assert set(json.loads(result.stdout)) == {"errorType", "errorMessage"}
    else:
        assert len(result.stderr.strip().splitlines()) == 1
