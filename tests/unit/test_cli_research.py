"""`tradebot backtest` and `tradebot optimize` as a user runs them (typer's runner, files in tmp_path)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import tradebot.data
from tests.unit.test_strategy_support import make_bars
from tradebot.data import LoadResult
from tradebot.data.csv_source import write_yahoo_csv
from tradebot.strategy import FillModel, backtest, optimize
from tradebot_local.cli import app
from tradebot_local.cli.research import parse_grid

runner = CliRunner()
BARS = make_bars(600, seed=41, vol=0.02)


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    write_yahoo_csv(BARS, tmp_path / "AAA.csv")
    write_yahoo_csv(make_bars(300, seed=42), tmp_path / "BBB.csv")
    return tmp_path


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_backtest_json_has_the_documented_fields_and_the_librarys_numbers(csv_dir: Path) -> None:
    result = run(
        "backtest", "--data", f"csv:{csv_dir / 'AAA.csv'}", "--strategy", "sma_crossover",
        "--param", "fast=5", "--param", "slow=20", "--cash", "5000", "--commission", "0.001",
        "--slippage-bps", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["symbol"] == "AAA" and report["synthetic"] is False
    stats = report["stats"]
    assert {"final_equity", "total_return_pct", "n_trades", "sharpe", "max_drawdown_pct"} <= set(stats)
    fill = FillModel(cash=5000, commission=0.001, slippage_bps=2)
    expected = backtest(BARS, "sma_crossover", {"fast": 5, "slow": 20}, fill=fill)
    assert stats["final_equity"] == pytest.approx(expected.stats["final_equity"], rel=1e-12)
    assert stats["n_trades"] == len(report["trades"]) == len(expected.trades) > 5
    first = report["trades"][0]
    assert set(first) >= {"entry_time", "exit_time", "entry_price", "exit_price", "size", "pnl"}
    assert first["entry_time"] == expected.trades[0].entry_time.date().isoformat()
    assert date.fromisoformat(first["exit_time"]) > date.fromisoformat(first["entry_time"])


def test_backtest_table_and_plot(csv_dir: Path) -> None:
    png = csv_dir / "out" / "equity.png"
    result = run(
        "backtest",
        "--data",
        f"csv:{csv_dir}",
        "--symbol",
        "aaa",
        "--strategy",
        "rsi_reversion",
        "--plot",
        str(png),
    )
    assert result.exit_code == 0, result.output
    for label in (
        "Equity Final [$]",
        "Sharpe Ratio",
        "Sharpe Ratio (backtesting.py)",
        "Max. Drawdown [%]",
        "Trades (last",
    ):
        assert label in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_backtest_on_sample_data_says_it_is_synthetic() -> None:
    result = run("backtest", "--data", "sample", "--strategy", "donchian_breakout", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["symbol"] == "SYN-A" and report["synthetic"] is True
    assert "SYNTHETIC" in run("backtest", "--data", "sample", "--strategy", "ts_momentum").stdout


def test_backtest_from_yfinance_asks_the_source_for_the_symbol(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    class FakeYahoo:
        name, synthetic, live = "yfinance", False, True

        def default_symbols(self) -> None:
            return None

        def load(self, symbols: list[str], start: date | None, end: date) -> LoadResult:
            calls.append((symbols, start, end))
            return LoadResult(frames={"SPY": BARS.loc[pd.Timestamp(start) :]})

    monkeypatch.setattr(tradebot.data, "source_from_spec", lambda spec, **_: FakeYahoo())
    result = run(
        "backtest",
        "--data",
        "yfinance",
        "--symbol",
        "spy",
        "--start",
        "2016-06-01",
        "--strategy",
        "sma_crossover",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert calls == [(["SPY"], date(2016, 6, 1), date.today())]
    assert json.loads(result.stdout)["stats"]["start"] >= "2016-06-01"


def test_optimize_json_reports_evaluated_bars_and_elapsed(csv_dir: Path) -> None:
    result = run(
        "optimize", "--data", f"csv:{csv_dir / 'AAA.csv'}", "--strategy", "sma_crossover",
        "--grid", "fast=3:5", "--grid", "slow=10:20:5", "--objective", "sortino", "--fractional", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["evaluated"] == 9 and report["bars"] == 600 and report["elapsed_s"] >= 0
    assert report["mode"] == "single" and report["objective"] == "sortino"
    expected = optimize(
        BARS,
        "sma_crossover",
        objective="sortino",
        fill=FillModel(fractional=True),
        grid={"fast": [3, 4, 5], "slow": [10, 15, 20]},
    )
    assert report["params"] == expected.params and report["in_sample"] == pytest.approx(expected.in_sample)
    assert [r["params"] for r in report["top"]] == [r.params for r in expected.top]


def test_optimize_walk_forward(csv_dir: Path) -> None:
    result = run(
        "optimize", "--data", f"csv:{csv_dir / 'AAA.csv'}", "--strategy", "ema_crossover",
        "--walk-forward", "3", "--anchored", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "anchored" and len(report["folds"]) == 3
    assert all(f["train_start"] == "2016-01-04" for f in report["folds"])
    assert report["top"][0]["params"] == report["params"] and report["top"][0]["robustness"] is not None
    table = run(
        "optimize",
        "--data",
        f"csv:{csv_dir / 'AAA.csv'}",
        "--strategy",
        "ema_crossover",
        "--walk-forward",
        "3",
    )
    assert table.exit_code == 0 and "Walk-forward folds" in table.stdout and "Chosen" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "--strategy", "nope"], "valid: bollinger_reversion"),
        (["backtest", "--strategy", "sma_crossover", "--param", "fast"], "NAME=NUMBER"),
        (["backtest", "--strategy", "sma_crossover", "--param", "fast=30"], "fast (30) must be smaller"),
        (["backtest", "--strategy", "sma_crossover", "--start", "2020-13-01"], "not a date"),
        (["backtest", "--strategy", "sma_crossover", "--commission", "-1"], "commission"),
        (["optimize", "--strategy", "sma_crossover", "--grid", "fast=a:b"], "START:STOP"),
        (["optimize", "--strategy", "sma_crossover", "--objective", "profit"], "unknown objective"),
        (["optimize", "--strategy", "sma_crossover", "--walk-forward", "30"], "too few"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(csv_dir: Path, args: list[str], message: str) -> None:
    result = run(*args, "--data", f"csv:{csv_dir / 'AAA.csv'}")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_directory_needs_a_symbol(csv_dir: Path) -> None:
    result = run("backtest", "--data", f"csv:{csv_dir}", "--strategy", "sma_crossover")
    assert result.exit_code == 2 and "AAA, BBB" in result.output
    result = run("backtest", "--data", f"csv:{csv_dir}", "--symbol", "ZZZ", "--strategy", "sma_crossover")
    assert result.exit_code == 2 and "ZZZ" in result.output


def test_grid_syntax() -> None:
    assert parse_grid(["k=1:3:0.5", "slow=20,50", "fast=7"]) == {
        "k": [1.0, 1.5, 2.0, 2.5, 3.0],
        "slow": [20.0, 50.0],
        "fast": [7.0],
    }
    assert parse_grid(["w=0.1:0.3:0.1"]) == {"w": [0.1, 0.2, 0.3]}  # no float drift at the end
    assert parse_grid(None) is None


def test_the_layer_and_the_cli_do_not_import_the_peers_or_matplotlib() -> None:
    code = (
        "import sys, tradebot.pipeline, tradebot.strategy, tradebot_local.cli; "
        "tradebot.strategy.strategy_names(); "
        "bad = [m for m in ('vectorbt', 'backtesting', 'matplotlib', 'numba', 'scipy') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_backtest_reports_the_entries_a_small_account_could_not_take(csv_dir: Path) -> None:
    """A cash account below one share's price takes no position on some entry signals: each is reported
    (the stats' entries_not_taken and a notice), and taken + not taken = every entry signal."""
    args = ["backtest", "--data", f"csv:{csv_dir / 'AAA.csv'}", "--strategy", "sma_crossover"]
    args += ["--param", "fast=5", "--param", "slow=20"]
    small = json.loads(run(*args, "--cash", "125", "--json").stdout)["stats"]
    ample = json.loads(run(*args, "--cash", "100000", "--json").stdout)["stats"]
    assert ample["entries_not_taken"] == [] and small["entries_not_taken"]
    assert small["n_trades"] + len(small["entries_not_taken"]) == ample["n_trades"]
    table = run(*args, "--cash", "125")
    assert table.exit_code == 0, table.output
    notice = f"{len(small['entries_not_taken'])} entry signal(s) could not be taken"
    assert notice in " ".join(table.stdout.split())
    assert small["entries_not_taken"][0] in table.stdout
