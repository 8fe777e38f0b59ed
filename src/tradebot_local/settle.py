"""After a local execution: the executor drains the orders queue and the paper account is reported.

This is the local twin of the ECS service: the same :class:`tradebot.execution.service.ExecutorService`, run
in this process against the emulated queue and tables until the queue is empty.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tradebot.clock import Clock, SystemClock
from tradebot.data import BarSource, source_from_spec
from tradebot.execution.executor import ExecutorReport
from tradebot.execution.next_bars import BarSourcePrices
from tradebot.execution.service import ExecutorService, build_service, paper_broker
from tradebot.settings import get_settings
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.store.trading_config import ConfigStore


@dataclass
class Settlement:
    """The run's orders as the ledger has them, the fills, and the paper account afterwards."""

    executed: ExecutorReport
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    awaiting_open: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    portfolio: dict[str, Any] = field(default_factory=dict)
    # splits applied to the account by this run: PaperTrade's (in its decision), then the executor's
    corporate_actions: list[dict[str, Any]] = field(default_factory=list)


def _no_sleep(seconds: float) -> None:
    """drain() never needs to wait: the emulated queue answers at once (wait_time_seconds=0)."""


def executor_logger() -> logging.Logger:
    """The local executor's log: stderr (stdout carries the report), at POWERTOOLS_LOG_LEVEL (default
    WARNING), not propagated (the handlers' Powertools logger, "tradebot", would print it to stdout)."""
    logger = logging.getLogger("tradebot_local.executor")
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(_Stderr()))
        logger.propagate = False
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING").upper())
    return logger


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it between runs)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def build_executor(source: BarSource, clock: Clock | None = None) -> ExecutorService:
    """The ECS service's executor against the emulated resources; always the paper broker locally, its
    next opens from ``source``. ``clock``: the executor's time (default the system's; a replay runs it at
    the fill session's close, so it reads no bar of a later day)."""
    settings = get_settings()
    clock = clock or SystemClock()
    config = ConfigStore(settings.config_table).load()
    return build_service(
        settings,
        broker=paper_broker(config, BarSourcePrices(source, clock=clock), clock),
        clock=clock,
        sleep=_no_sleep,
        wait_time_seconds=0,
        heartbeat=lambda: None,
        logger=executor_logger(),
    )


def settle(output: dict[str, Any]) -> Settlement:
    """Drain the queue with the executor; the orders of the execution whose ``output`` is given, as the
    ledger has them, the fills, and the paper account."""
    fetch = output.get("fetch") or {}
    trade = output.get("trade") or {}
    settings = get_settings()
    source = source_from_spec(
        fetch.get("source") or settings.data_source, cache_dir=settings.yfinance_cache_dir
    )
    executed = build_executor(source).drain()
    # The session's orders as the ledger has them: with a persisted local account a re-run of the same
    # day shows the orders and fills its first run recorded (and adds none).
    ledger = OrderLedger(settings.ledger_table)
    decision = (
        AccountStore(settings.state_table).decision(settings.account_id, date.fromisoformat(fetch["as_of"]))
        if trade and fetch.get("as_of")
        else None
    )
    decided = decision.orders if decision is not None else []
    entries = [ledger.get(o.order_id) for o in decided]
    recorded = [e for e in entries if e is not None]
    settlement = Settlement(executed=executed)
    settlement.orders = [
        {
            # the order as the ledger has it: a split after the decision amends its quantity and prices
            **(e.order if e else o).model_dump(
                mode="json",
                include={"order_id", "run_id", "symbol", "side", "quantity", "reference_price", "reason"},
            ),
            "status": e.status if e else "UNKNOWN",
            "status_reason": e.reason if e else "",
            **({"adjusted": [a.model_dump(mode="json") for a in e.amendments]} if e and e.amendments else {}),
        }
        for o, e in zip(decided, entries, strict=True)
    ]
    session_fills = [e.fill for e in recorded if e.fill is not None]
    ids = {f.order_id for f in session_fills}
    # plus earlier sessions' orders that were waiting for their open and filled in this drain
    settlement.fills = [
        f.model_dump(mode="json")
        for f in session_fills + [f for f in executed.filled if f.order_id not in ids]
    ]
    settlement.awaiting_open = [e.order.order_id for e in recorded if e.status == "ACCEPTED"]
    settlement.rejected = [
        {"order_id": e.order.order_id, "reason": e.reason} for e in recorded if e.status == "REJECTED"
    ]
    settlement.portfolio = portfolio_snapshot(
        source, fetch, [date.fromisoformat(f["session"]) for f in settlement.fills]
    )
    applied = (decision.corporate_actions if decision is not None else []) + executed.splits
    seen: set[tuple[str, date]] = set()
    for record in applied:
        if (record.symbol, record.ex_date) not in seen:
            seen.add((record.symbol, record.ex_date))
            settlement.corporate_actions.append(record.summary())
    return settlement


def portfolio_snapshot(source: BarSource, fetch: dict[str, Any], fill_sessions: list[date]) -> dict[str, Any]:
    """Cash, positions and equity, positions marked at the latest close the run can know of."""
    settings = get_settings()
    initial = ConfigStore(settings.config_table).load().risk.initial_capital
    portfolio = AccountStore(settings.state_table).load(settings.account_id, initial)
    as_of = date.fromisoformat(fetch["as_of"]) if fetch.get("as_of") else None
    marked_at = max(fill_sessions) if fill_sessions else as_of
    closes: dict[str, float] = {}
    if marked_at is not None and portfolio.positions:
        loaded = source.load(sorted(portfolio.positions), marked_at - timedelta(days=10), marked_at)
        closes = {s: float(f["Close"].iloc[-1]) for s, f in loaded.frames.items() if len(f)}
    # a stopped symbol (its history restated, no split explains it) is marked at its recorded close
    for halt in AccountStore(settings.state_table).symbol_halts(settings.account_id).values():
        if halt.symbol in portfolio.positions and halt.mark is not None:
            closes[halt.symbol] = halt.mark
    return {
        "account": portfolio.account,
        "cash": round(portfolio.cash, 2),
        "positions": {s: p.model_dump(mode="json") for s, p in portfolio.positions.items()},
        "equity": round(portfolio.equity(closes), 2),
        "marked_at": str(marked_at) if marked_at else None,
    }
