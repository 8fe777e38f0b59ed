"""Field reports (issue 10) seen as a user sees them: `tradebot run`, `backtest` and `optimize` say what is
wrong with the data next to the results."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradebot_local.cli import app
from tradebot_local.universe import write_synthetic_universe

pytestmark = pytest.mark.e2e
AS_OF = "2024-05-30"


@pytest.fixture(scope="module")
def universe_with_a_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 20 synthetic symbols; U0003's history has an unadjusted 4:1 split on 2024-02-01 (its price quarters)
    directory = tmp_path_factory.mktemp("split")
    write_synthetic_universe(directory, 20, date(2023, 1, 2), date(2024, 6, 14), seed=5)
    path = directory / "U0003.csv"
    header, *rows = path.read_text().splitlines()
    fixed = []
    for row in rows:
        day, *values = row.split(",")
        if day >= "2024-02-01":
            prices = [f"{float(v) / 4:.4f}" for v in values[:5]]
            values = [*prices, values[5]]
        fixed.append(",".join([day, *values]))
    path.write_text("\n".join([header, *fixed]) + "\n")
    return directory


def test_data_warnings_are_shown_next_to_the_signals_and_in_the_json(universe_with_a_split: Path) -> None:
    args = ["run", "--source", f"csv:{universe_with_a_split}", "--as-of", AS_OF]
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert report["status"] == "SUCCEEDED"
    split = [w for w in report["warnings"] if w["symbol"] == "U0003"]
    assert [w["reason"] for w in split] == ["possible_split"] and "2024-02-01" in split[0]["detail"]
    assert report["data_warnings"] == len(report["warnings"])
    table = CliRunner().invoke(app, args).stdout
    assert "Data warnings" in table and "possible_split" in table


def test_backtest_and_optimize_run_the_pipelines_checks_on_their_data(universe_with_a_split: Path) -> None:
    data = ["--data", f"csv:{universe_with_a_split}", "--symbol", "U0003", "--strategy", "sma_crossover"]
    result = CliRunner().invoke(app, ["backtest", *data, "--json"])
    assert result.exit_code == 0
    checks = json.loads(result.stdout)["data_checks"]
    assert [(c["kind"], c["reason"]) for c in checks] == [("warning", "possible_split")]
    optimized = CliRunner().invoke(app, ["optimize", *data, "--json"])
    assert optimized.exit_code == 0
    assert [c["reason"] for c in json.loads(optimized.stdout)["data_checks"]] == ["possible_split"]
    assert "possible_split" in CliRunner().invoke(app, ["backtest", *data]).stderr


def test_a_possible_split_inside_a_history_withholds_the_signal_and_says_why(
    universe_with_a_split: Path,
) -> None:
    # §4: U0003's unadjusted 4:1 split (a -75% day on 2024-02-01) never silently drives a decision
    args = ["run", "--source", f"csv:{universe_with_a_split}", "--as-of", AS_OF]
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert report["status"] == "SUCCEEDED"
    assert "U0003" not in {s["symbol"] for s in report["signals"]} and len(report["signals"]) == 19
    (withheld,) = report["withheld"]
    assert (withheld["symbol"], withheld["reason"]) == ("U0003", "possible_split")
    assert "signal withheld" in withheld["detail"] and "2024-02-01" in withheld["detail"]
    assert all(o["symbol"] != "U0003" for o in report["orders"])
    assert all(c["symbol"] != "U0003" for c in report["ranking"])
    # shown next to the signals
    table = CliRunner().invoke(app, args).stdout
    assert "Signals withheld" in table and "U0003" in table
