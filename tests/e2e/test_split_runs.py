"""Issue 10 §4 seen as a user sees it: `tradebot run` day after day on a persisted local paper account (a
fresh TRADEBOT_STATE_DIR per test), on Yahoo-format CSVs that a split restates between two runs.

A split is never booked as a loss: the position becomes 4x the shares at 1/4 of the average price, the
equity does not fall 75%, the daily loss limit does not halt the account, the split is recorded once (a
re-run changes nothing) and shown in the run report and `tradebot portfolio`; an order decided before the
split fills after it with 4x the shares. A restatement no split explains books nothing and stops the
symbol until `tradebot kill-switch off`. The bars are synthetic (a steady uptrend, so the strategy holds
the symbol every day); the split is applied to them as Yahoo does: every price before the ex-date
divided by the ratio.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.market_fakes import write_csv_dir
from tradebot.calendar import get_calendar
from tradebot.clock import FixedClock
from tradebot_local.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()
SYMBOL = "SPLT"
D1, D2, D3 = date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)  # consecutive sessions


def bars(last: date) -> pd.DataFrame:
    """A steady uptrend from 2022-08-01 up to ``last`` (ts_momentum is long on every session of it); the
    same prices whatever ``last`` is."""
    days = list(get_calendar().sessions(date(2022, 8, 1), date(2024, 3, 28)))
    rng = np.random.default_rng(11)
    close = np.round(40.0 * np.exp(np.cumsum(0.003 + rng.normal(0.0, 0.002, len(days)))), 2)
    open_ = np.round(close * np.exp(rng.normal(0.0, 0.002, len(days))), 2)
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").as_unit("us")
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.round(np.maximum(open_, close) * 1.003, 2),
            "Low": np.round(np.minimum(open_, close) * 0.997, 2),
            "Close": close,
            "Adj Close": close,
            "Volume": 1e6,
        },
        index=index,
    ).loc[: pd.Timestamp(last)]


def restated(frame: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """``frame`` as a source has it after a split of ``ratio`` new shares per old one took effect on or
    after its last bar: every price divided by the ratio, volumes multiplied by it."""
    out = frame.copy()
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        out[column] = out[column] / ratio
    out["Volume"] = out["Volume"] * ratio
    return out


def csv_dir(directory: Path, frame: pd.DataFrame) -> str:
    return f"csv:{write_csv_dir(directory, {SYMBOL: frame})}"


def run(source: str, as_of: date) -> dict[str, Any]:
    args = ["run", "--json", "--source", source, "--symbols", SYMBOL, "--as-of", str(as_of)]
    result = runner.invoke(app, [*args, "--strategy", "ts_momentum"])
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == 0 and report["status"] == "SUCCEEDED", report.get("error_message")
    return report


def portfolio() -> dict[str, Any]:
    result = runner.invoke(app, ["portfolio", "--json"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def position(summary: dict[str, Any]) -> dict[str, Any]:
    (held,) = [p for p in summary["positions"] if p["symbol"] == SYMBOL]
    return held


def tables(state_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The persisted account's items (run records aside: every run adds its own)."""
    saved = json.loads((state_dir / "account.json").read_text())["tables"]
    saved["StateTable"] = [i for i in saved["StateTable"] if not i["pk"]["S"].startswith("RUN#")]
    return {name: sorted(items, key=json.dumps) for name, items in saved.items()}


def split_items(state_dir: Path) -> list[dict[str, Any]]:
    return [i for i in tables(state_dir)["StateTable"] if i["sk"]["S"].startswith("SPLIT#")]


def fills_of(report: dict[str, Any], session: date) -> int:
    """Shares of SYMBOL bought (+) and sold (-) by the run's fills at ``session``'s open."""
    sign = {"BUY": 1, "SELL": -1}
    return sum(
        sign[f["side"]] * f["quantity"]
        for f in report["fills"]
        if f["symbol"] == SYMBOL and f["session"] == str(session)
    )


def test_a_held_position_is_split_not_booked_as_a_loss(isolated_local_account: Path, tmp_path: Path) -> None:
    # Given day 1 (D1): SPLT bought at the close, filled at D2's open (the CSVs have D2's bar)
    history = bars(D3)
    day1 = run(csv_dir(tmp_path / "day1", history.loc[: pd.Timestamp(D2)]), D1)
    bought = fills_of(day1, D2)
    assert bought > 0
    before = position(portfolio())
    assert before["quantity"] == bought
    # When day 2's CSVs are restated by a 4:1 split effective D2 (every price a quarter of what it was)
    day2_source = csv_dir(tmp_path / "day2", restated(history, 4.0))
    day2 = run(day2_source, D2)
    # Then the split is applied once: 4x the shares at 1/4 of the average price, no cash in lieu
    (action,) = day2["corporate_actions"]
    assert {k: action[k] for k in ("symbol", "ex_date", "ratio", "shares_before", "shares_after")} == {
        "symbol": SYMBOL,
        "ex_date": str(D2),
        "ratio": "4:1",
        "shares_before": bought,
        "shares_after": 4 * bought,
    }
    assert action["avg_price_after"] == pytest.approx(before["avg_price"] / 4)
    assert action["cash_in_lieu"] == 0 and action["source"] == "detected"
    after = portfolio()
    held = position(after)
    assert held["quantity"] == 4 * bought + fills_of(day2, D3)
    assert held["avg_price"] == pytest.approx(before["avg_price"] / 4, rel=0.01)
    # and no loss is booked: the decision's equity is within a normal day's move, no halt
    assert after["halt"] is None and after["stopped_symbols"] == []
    assert day2["portfolio"]["equity"] == pytest.approx(day1["portfolio"]["equity"], rel=0.01)
    assert any("4:1 split applied" in n for n in day2["decision_notes"])
    # shown in the run's table and in `tradebot portfolio`
    table = runner.invoke(app, ["run", "--source", day2_source, "--symbols", SYMBOL, "--as-of", str(D2)])
    assert "Corporate actions applied by this run" in table.stdout and "4:1" in table.stdout
    assert [(a["symbol"], a["ratio"], a["shares_after"]) for a in after["corporate_actions"]] == [
        (SYMBOL, "4:1", 4 * bought)
    ]
    shown = runner.invoke(app, ["portfolio"]).stdout
    assert "Corporate actions (splits applied)" in shown and "4:1" in shown
    # and a re-run of day 2 changes nothing: the same report, one SPLIT item, the same account
    recorded = tables(isolated_local_account)
    again = run(day2_source, D2)
    assert again["corporate_actions"] == day2["corporate_actions"]
    assert again["orders"] == day2["orders"] and again["portfolio"] == day2["portfolio"]
    assert tables(isolated_local_account) == recorded
    assert len(split_items(isolated_local_account)) == 1


def test_an_order_decided_before_the_split_fills_after_it_with_the_adjusted_quantity(
    isolated_local_account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given day 1's order decided at D1's close on CSVs that end there, before D2's open (the executor's
    # clock: 08:00 New York on D2): it is accepted and waits for its open
    history = bars(D3)
    before_open = FixedClock(datetime(2024, 3, 6, 13, tzinfo=UTC))
    with monkeypatch.context() as patched:
        patched.setattr("tradebot_local.settle.SystemClock", lambda: before_open)
        day1 = run(csv_dir(tmp_path / "day1", history.loc[: pd.Timestamp(D1)]), D1)
    (order,) = day1["orders"]
    assert (order["side"], order["status"]) == ("BUY", "ACCEPTED") and day1["fills"] == []
    # When the split takes effect at D2's open, the order's fill session: day 2's CSVs are restated
    day2 = run(csv_dir(tmp_path / "day2", restated(history, 4.0)), D2)
    # Then the pending order was adjusted for it (4x the shares, a quarter of the reference price) ...
    (action,) = day2["corporate_actions"]
    assert (action["ratio"], action["shares_before"], action["shares_after"]) == ("4:1", 0, 0)
    assert action["orders_adjusted"] == [order["order_id"]]
    # ... and filled at D2's open, in the new units
    (fill,) = [f for f in day2["fills"] if f["order_id"] == order["order_id"]]
    open_d2 = float(history.loc[pd.Timestamp(D2), "Open"]) / 4
    assert fill["quantity"] == 4 * order["quantity"]
    assert fill["price"] == pytest.approx(open_d2 * (1 + 5 / 10_000))
    held = position(portfolio())
    assert held["quantity"] == 4 * order["quantity"] + fills_of(day2, D3)
    (entry,) = [o for o in runner_orders() if o["order_id"] == order["order_id"]]
    assert (entry["status"], entry["quantity"]) == ("FILLED", 4 * order["quantity"])


def runner_orders() -> list[dict[str, Any]]:
    result = runner.invoke(app, ["orders", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_a_restatement_no_split_explains_stops_the_symbol_until_an_operator_lifts_it(
    isolated_local_account: Path, tmp_path: Path
) -> None:
    # Given SPLT held since D2's open
    history = bars(D3)
    day1 = run(csv_dir(tmp_path / "day1", history.loc[: pd.Timestamp(D2)]), D1)
    bought = fills_of(day1, D2)
    assert bought > 0
    recorded_close = float(history.loc[pd.Timestamp(D1), "Close"])
    # When day 2's CSVs restate the whole history by x1/1.37 (no split ratio is 1.37)
    day2 = run(csv_dir(tmp_path / "day2", restated(history, 1.37)), D2)
    # Then nothing is adjusted, nothing is booked, the account is not halted: SPLT is stopped, not traded
    # and marked at its recorded close
    assert day2["corporate_actions"] == [] and day2["orders"] == []
    assert day2["portfolio"]["equity"] == pytest.approx(day1["portfolio"]["equity"], rel=0.001)
    stopped = [n for n in day2["decision_notes"] if n.startswith(f"{SYMBOL}: STOPPED")]
    assert len(stopped) == 1 and "which no split ratio explains" in stopped[0]
    summary = portfolio()
    assert summary["halt"] is None
    (halt,) = summary["stopped_symbols"]
    assert halt["symbol"] == SYMBOL and halt["mark"] == pytest.approx(recorded_close)
    assert position(summary)["quantity"] == bought
    assert position(summary)["last_close"] == pytest.approx(recorded_close)
    # and it stays stopped the next day
    day3 = run(csv_dir(tmp_path / "day3", restated(bars(date(2024, 3, 8)), 1.37)), D3)
    assert day3["orders"] == []
    assert any(n.startswith(f"{SYMBOL}: not traded: stopped since {D2}") for n in day3["decision_notes"])
    # until `tradebot kill-switch off` lifts it
    lifted = runner.invoke(app, ["kill-switch", "off"])
    assert lifted.exit_code == 0 and f"{SYMBOL} trades again" in lifted.stdout
    assert portfolio()["stopped_symbols"] == []
