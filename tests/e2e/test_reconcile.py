"""`tradebot reconcile`: a deployment's recent sessions against research, order for order.

"Production" here is template.yaml deployed into the emulator and run session after session (the state
machine, the queue, the executor), as `tradebot replay` runs it, on SYNTHETIC point-in-time data
(tests/pit_source.py: a 4:1 split and a crash that trips the daily loss limit). Reconcile reads it the way
it reads a deployed stack (its tables and bucket, through boto3), then research starts from the book the
window's first decision recorded, mid-history: pending orders, parameters, decisions, splits and halts
from before the window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tests.pit_source import CRASH_SESSION, SPEC, SPLIT_EX_DATE, PointInTimeSource, install, replay_scenario
from tradebot.calendar import get_calendar
from tradebot.contracts import PipelineRequest
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.config import TradingConfig
from tradebot_local.cli import app
from tradebot_local.emulator import REGION
from tradebot_local.reconcile import (
    Production,
    StackNames,
    read_production,
    reconcile,
    settings_of,
)
from tradebot_local.replay import fill_clock
from tradebot_local.runner import local_stack, start_and_wait
from tradebot_local.settle import build_executor

pytestmark = pytest.mark.e2e
START, END = date(2024, 1, 29), date(2024, 4, 1)  # 45 sessions of production
WINDOW = 34  # the last 34: from 2024-02-12, across the split (02-15) and the halt (03-22)


@pytest.fixture(scope="module")
def production() -> Iterator[Production]:
    """Production's state after START..END, as reconcile reads it (one run of the scenario per module)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        source = replay_scenario()
        install(monkeypatch, source)
        yield run_production(source)


def run_production(source: PointInTimeSource) -> Production:
    with local_stack() as (dep, _):
        ddb = boto3.client("dynamodb", region_name=REGION)
        ConfigStore(dep.refs["ConfigTable"], ddb).save(TradingConfig(strategy="ts_momentum"))
        for day in get_calendar().sessions(START, END):
            start_and_wait(dep, PipelineRequest(source=SPEC, as_of=day), f"scheduled-{day}", 600)
            build_executor(source, fill_clock(day)).drain()
        names = StackNames(
            dep.refs["ConfigTable"], dep.refs["StateTable"], dep.refs["LedgerTable"], dep.refs["DataBucket"]
        )
        s3 = boto3.client("s3", region_name=REGION)
        return read_production(ddb, s3, names, settings_of({}), sessions=WINDOW, end=END)


def test_research_from_the_windows_first_book_agrees_with_production(production: Production) -> None:
    result = reconcile(production)

    assert result.differences == [], result.first
    window = production.window
    assert len(window) == WINDOW and window[0] == date(2024, 2, 12) and window[-1] == END
    # what the window crossed, in both
    assert [s.symbol for s in result.production.splits] == ["S0"]
    assert [s.symbol for s in result.research.splits] == ["S0"]
    assert result.production.splits[0].ex_date == SPLIT_EX_DATE
    failed = [s.date for s in result.research.sessions if s.status == "FAILED"]
    assert failed and failed[0] == CRASH_SESSION
    assert len(result.production.fills) >= 20 and result.unchecked == 0
    # research started mid-history: W's decision had positions
    book = production.decisions[window[0]].book
    assert book is not None and len(book.positions) == 5


@pytest.mark.parametrize(
    ("tamper", "cause"),
    [
        ("fill_price", "fill of order"),
        ("cash", "cash at the close"),
        ("missing_order", "only in research"),
    ],
)
def test_what_production_did_differently_is_named(production: Production, tamper: str, cause: str) -> None:
    changed = tampered(production, tamper)
    result = reconcile(changed)
    assert result.first is not None and cause in result.first.cause, result.first


def tampered(production: Production, what: str) -> Production:
    """``production`` as if the deployment had done one thing differently (a copy)."""
    entries = dict(production.entries)
    decisions = dict(production.decisions)
    day = production.window[10]
    if what == "fill_price":  # the executor filled an order at another price
        entry = next(e for e in entries.values() if e.fill is not None and e.order.as_of == day)
        assert entry.fill is not None
        entries[entry.order.order_id] = entry.model_copy(
            update={"fill": entry.fill.model_copy(update={"price": entry.fill.price * 1.0001})}
        )
    elif what == "cash":  # the book a decision started from is a dollar off
        decision = decisions[day]
        assert decision.book is not None
        book = decision.book.model_copy(update={"cash": decision.book.cash + 1.0})
        decisions[day] = decision.model_copy(update={"book": book})
    elif what == "missing_order":  # an order research places is not in production's ledger
        order_id = next(o.order_id for o in decisions[day].orders)
        del entries[order_id]
    return replace(production, entries=entries, decisions=decisions)


def test_cli_reconcile_reads_the_stack_and_publishes_the_metric(
    production: Production, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradebot_local.cli.replay as cli

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "read_deployment", lambda stack, region, sessions, end: production)
    monkeypatch.setattr(
        cli, "publish_parity", lambda region, stack, counts: published.append({"stack": stack, **counts})
    )
    result = CliRunner().invoke(app, ["reconcile", "--stack", "tradebot", "--json", "--publish"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["identical"] is True and out["sessions"] == WINDOW and out["differences"] == []
    assert published == [{"stack": "tradebot", "differences": 0, "sessions": WINDOW}]

    monkeypatch.setattr(cli, "read_deployment", lambda *a: tampered(production, "fill_price"))
    result = CliRunner().invoke(app, ["reconcile", "--stack", "tradebot", "--publish"])
    assert result.exit_code == 1, result.output
    assert "first difference" in result.stdout and "fill of order" in result.stdout
    assert published[-1]["differences"] >= 1
