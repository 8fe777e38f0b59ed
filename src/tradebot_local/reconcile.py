"""`tradebot reconcile`: the deployed paper account's recent sessions against research, order for order.

Production is what the deployed stack did: the decisions PaperTrade stored (DECISION# items, each with
the book it started from: cash, positions, pending orders), the ledger's orders and fills (the ECS
executor's), the splits and halts, and each run's objects in the data bucket (its bars and the
parameters OptimizeStrategy used). Everything is read first, with the caller's AWS credentials
(:func:`read_production`); nothing is written.

Research is `tradebot simulate` (tradebot_local.simulate) over the same sessions, started from
production's state at the window's first session W: the book W's decision recorded, the orders pending
then, the decisions, splits and halts before W, the parameters W's run reused (those it re-optimized are
re-optimized), the trading config (kill switch off: it is an operator's action), and production's own
bars: each session decides on the bars its run archived, each order fills at the bar the next session's
run archived (:class:`ArchivedRuns`), so no data vendor's later restatement can make them differ.

Compared (tradebot_local.history.differences): per session, a decision in both or neither, its equity and
book cash to the cent; every order decided in the window (id, side, quantity, final status); every fill
(session, quantity, price to 1e-9 relative, commission to the cent); splits applied. An order whose fill
session has no archived run yet (the last session's, before the next run) or that a live broker filled
(execution.broker "alpaca": prices are the market's, not the paper model's) is UNCHECKED on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from tradebot.calendar import get_calendar
from tradebot.contracts import OptimizeBatchResult, OptimizeResult, Order, S3Pointer
from tradebot.data import LoadResult
from tradebot.data.run_bars import read_run_bars
from tradebot.errors import InputValidationError
from tradebot.pipeline.trade import RECENT_DECISIONS
from tradebot.store import runs
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import LedgerEntry, OrderLedger
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.account import Decision, Halt, SplitRecord, SymbolHalt
from tradebot.trading.config import TradingConfig
from tradebot_local.history import (
    AccountHistory,
    Difference,
    FillRow,
    OrderRow,
    SessionRow,
    SplitRow,
    differences,
)
from tradebot_local.replay import Books
from tradebot_local.simulate import SimulationRequest, TemplateDefaults, simulate_range

NAMES = ("production", "research")
UNCHECKED = "UNCHECKED"
SOURCE_NAME = "production runs"


@dataclass(frozen=True)
class StackNames:
    """Where a deployment keeps what reconcile reads (its stack's outputs)."""

    config_table: str
    state_table: str
    ledger_table: str
    data_bucket: str


@dataclass
class RunArchive:
    """What one run of a session archived: its bars (the symbols that passed the quality gate) and the
    parameters OptimizeStrategy used (reused or re-optimized)."""

    session: date
    run_id: str
    frames: dict[str, pd.DataFrame]
    results: list[OptimizeResult] = field(default_factory=list)
    strategy: str | None = None  # the strategy the run optimized (None: no optimize result archived)


@dataclass
class Production:
    """Everything reconcile needs from the deployment, read once."""

    settings: TemplateDefaults  # account, PARAMS_MAX_AGE_DAYS, the optimize tolerance (stack parameters)
    config: TradingConfig
    window: list[date]  # the sessions compared, W first
    decisions: dict[date, Decision]  # of the window and the RECENT_DECISIONS + 1 sessions before it
    entries: dict[str, LedgerEntry]  # orders decided in the window or pending at W, by id
    splits: list[SplitRecord]
    halt: Halt | None
    symbol_halts: list[SymbolHalt]
    runs: dict[date, RunArchive]  # the window's sessions and the one after it, where a run archived bars

    @property
    def start(self) -> date:
        return self.window[0]


class ArchivedRuns:
    """A bar source over production's archived runs: bars up to ``end`` are the bars of the latest run of a
    session on or before ``end`` (what production had then; a run's bars end at its session)."""

    synthetic = False
    live = False
    name = SOURCE_NAME

    def __init__(self, archives: Mapping[date, RunArchive]) -> None:
        self._archives = dict(sorted(archives.items()))

    def default_symbols(self) -> list[str] | None:
        return sorted({s for a in self._archives.values() for s in a.frames}) or None

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        runs_before = [a for d, a in self._archives.items() if d <= end]
        archive = runs_before[-1] if runs_before else None
        for symbol in symbols:
            if archive is None or symbol not in archive.frames:
                where = f"the {archive.session} run" if archive else f"any run on or before {end}"
                result.fail(symbol, f"no data: {symbol} is not in {where}")
                continue
            where = f"run {archive.run_id} of {archive.session}"
            result.place(symbol, archive.frames[symbol], start, end, where)
        return result


# --- reading production ---------------------------------------------------------------------------------


def read_production(
    ddb: Any,
    s3: Any,
    names: StackNames,
    settings: TemplateDefaults,
    *,
    sessions: int,
    end: date,
) -> Production:
    """The deployment's last ``sessions`` NYSE sessions up to ``end`` and what research starts from.
    InputValidationError when no decision of the window recorded its book (decisions stored before it
    was recorded), or when the first one's run is gone from the bucket."""
    if sessions < 1:
        raise InputValidationError("--sessions must be at least 1")
    calendar = get_calendar()
    last = end if calendar.is_session(end) else calendar.previous_session(end)
    window = calendar.sessions(last - timedelta(days=2 * sessions + 10), last)[-sessions:]
    account = settings.account
    accounts, ledger = AccountStore(names.state_table, ddb), OrderLedger(names.ledger_table, ddb)
    decisions = {
        d.as_of: d
        for d in accounts.recent_decisions(
            account, calendar.next_session(last), sessions + RECENT_DECISIONS + 1
        )
    }
    booked = [day for day in window if day in decisions and decisions[day].book is not None]
    if not booked:
        raise InputValidationError(
            f"account {account}: no decision of {window[0]}..{last} recorded the book it started from "
            "(decisions stored before this version did not): nothing to start research from"
        )
    window = [day for day in window if day >= booked[0]]
    start_book = decisions[window[0]].book
    assert start_book is not None
    entries = {
        e.order.order_id: e
        for e in ledger.list_orders()
        if e.order.account == account
        and (window[0] <= e.order.as_of <= last or e.order.order_id in start_book.pending)
    }
    archives = {}
    for day in [*window, calendar.next_session(last)]:  # the next session's run: the window's last fills
        decided = decisions.get(day)
        found = _read_run(s3, names.data_bucket, day, decided.run_id if decided else None)
        if found is not None:
            archives[day] = found
    if window[0] not in archives:
        raise InputValidationError(
            f"the run of {window[0]} (W) has no archived bars in s3://{names.data_bucket}/runs/ (expired?)"
        )
    return Production(
        settings=settings,
        config=ConfigStore(names.config_table, ddb).load(),
        window=window,
        decisions={d: x for d, x in decisions.items() if d <= last},
        entries=entries,
        splits=accounts.splits(account),
        halt=accounts.halt(account),
        symbol_halts=list(accounts.symbol_halts(account).values()),
        runs=archives,
    )


def _read_run(s3: Any, bucket: str, session: date, run_id: str | None) -> RunArchive | None:
    """The session's run (``run_id``; else the last one listed with a manifest): bars and parameters."""
    objects = runs.RunObjects(s3, bucket)
    candidates = [run_id] if run_id else list(reversed(_run_ids(s3, bucket, session)))
    for candidate in candidates:
        manifest = S3Pointer(bucket=bucket, key=runs.manifest_key(session, candidate))
        try:
            batches = objects.get_manifest(manifest)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                continue  # no manifest: that run failed before it archived its bars
            raise
        frames: dict[str, pd.DataFrame] = {}
        results: list[OptimizeResult] = []
        strategy = None
        for batch in batches:
            frames.update(read_run_bars(s3, batch.bars))
            pointer = S3Pointer(bucket=bucket, key=runs.batch_result_key(session, candidate, batch.batch))
            document = objects.find_model(pointer, OptimizeBatchResult)
            if document is not None:
                results.extend(document.results)
                strategy = document.strategy
        return RunArchive(session, candidate, frames, results, strategy)
    return None


def _run_ids(s3: Any, bucket: str, session: date) -> list[str]:
    prefix = f"{runs.RUNS_PREFIX}/{session.isoformat()}/"
    ids: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        ids += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(ids)


# --- research and the comparison ------------------------------------------------------------------------


@dataclass
class Reconciliation:
    production: AccountHistory
    research: AccountHistory
    differences: list[Difference]
    unchecked: int  # orders whose fill could not be checked (no archived bar yet, or a live broker)

    @property
    def first(self) -> Difference | None:
        return self.differences[0] if self.differences else None


def reconcile(production: Production) -> Reconciliation:
    """Research over production's window from production's state at its start; both histories and every
    difference (see the module doc)."""
    decided: dict[date, Decision | None] = {}
    window = production.window
    # the strategy W's run optimized (a run's request can name one the config does not)
    request = SimulationRequest(SOURCE_NAME, None, window[0], window[-1], production.runs[window[0]].strategy)
    simulated = simulate_range(
        request,
        source=ArchivedRuns(production.runs),
        defaults=production.settings,
        seed=lambda books: seed_books(books, production),
        on_decided=decided.__setitem__,
    )
    research_entries = {o.order_id: o for o in simulated.orders}
    research_fills = {f.order_id: f for f in simulated.fills}
    checkable = _checkable(production)
    ours = _history(
        window,
        decided,
        ((o, research_fills.get(o.order_id)) for o in research_entries.values()),
        simulated.splits,
        checkable,
    )
    theirs = _history(
        window,
        {day: production.decisions.get(day) for day in window},
        (_rows(e) for e in production.entries.values()),
        [
            SplitRow(r.symbol, r.ex_date, r.ratio_text, r.shares_before, r.shares_after, r.cash_in_lieu)
            for r in production.splits
        ],
        checkable,
    )
    theirs.source = ours.source = SOURCE_NAME
    found = differences(theirs, ours, NAMES)
    unchecked = sum(1 for o in theirs.orders if o.status == UNCHECKED)
    return Reconciliation(theirs, ours, found, unchecked)


def seed_books(books: Books, production: Production) -> dict[tuple[str, str], OptimizeResult]:
    """Write production's state at W into research's (empty) books; the parameters W's run reused."""
    w = production.start
    account = production.settings.account
    now = get_calendar().session_close(w)
    config = production.config.model_copy(update={"kill_switch": False, "kill_switch_reason": ""})
    books.config.save(config)
    book = production.decisions[w].book
    assert book is not None
    books.accounts.restore_book(account, book, config.risk.initial_capital, now)
    for decision in production.decisions.values():
        if decision.as_of < w:
            books.accounts.record_decision(decision)
    for record in production.splits:
        if record.ex_date < w:
            books.accounts.client.transact_write_items(TransactItems=[books.accounts.split_put(record)])
    if production.halt is not None and production.halt.as_of < w:
        books.accounts.set_halt(production.halt)
    for halt in production.symbol_halts:
        if halt.as_of < w:
            books.accounts.set_symbol_halt(halt)
    for order_id in book.pending:
        entry = production.entries.get(order_id)
        if entry is not None:
            order = _as_decided(entry, production.decisions)
            books.ledger.record_new(order, now)
            books.ledger.accept(order.order_id, now)
    return {(r.symbol, r.strategy): r for r in production.runs[w].results if not r.reoptimized}


def _as_decided(entry: LedgerEntry, decisions: Mapping[date, Decision]) -> Order:
    """The order as its decision placed it (before amendments a later split made), when that is known."""
    decision = decisions.get(entry.order.as_of)
    if decision is not None:
        for order in decision.orders:
            if order.order_id == entry.order.order_id:
                return order
    return entry.order


def _checkable(production: Production) -> set[date]:
    """Fill sessions research has a bar for (an archived run), unless a live broker fills."""
    if production.config.execution.broker != "paper":
        return set()
    return set(production.runs)


def _rows(entry: LedgerEntry) -> tuple[OrderRow, FillRow | None]:
    o, f = entry.order, entry.fill
    row = OrderRow(o.order_id, o.as_of, o.symbol, o.side, o.quantity, entry.status, entry.reason)
    fill = (
        FillRow(o.order_id, o.as_of, f.session, f.symbol, f.side, f.quantity, f.price, f.commission)
        if f is not None
        else None
    )
    return row, fill


def _history(
    window: list[date],
    decisions: Mapping[date, Decision | None],
    orders: Iterable[tuple[OrderRow, FillRow | None]],
    splits: Iterable[SplitRow],
    checkable: set[date],
) -> AccountHistory:
    calendar = get_calendar()
    history = AccountHistory(initial_capital=0.0)
    for day in window:
        decision = decisions.get(day)
        if decision is None:
            history.sessions.append(SessionRow(day, 0.0, 0.0, "FAILED", "no decision"))
        else:
            cash = decision.book.cash if decision.book is not None else float("nan")
            history.sessions.append(SessionRow(day, decision.equity, cash))
    for order, fill in sorted(orders, key=lambda r: (r[0].as_of, r[0].order_id)):
        if not window[0] <= order.as_of <= window[-1]:
            continue
        if calendar.next_session(order.as_of) not in checkable:
            o = order
            history.orders.append(OrderRow(o.order_id, o.as_of, o.symbol, o.side, o.quantity, UNCHECKED))
            continue
        history.orders.append(order)
        if fill is not None:
            history.fills.append(fill)
    history.splits = [s for s in splits if window[0] <= s.ex_date <= window[-1]]
    return history


def stack_names(cloudformation: Any, stack: str) -> tuple[StackNames, dict[str, str]]:
    """The stack's table and bucket names (its outputs) and its parameters."""
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        raise InputValidationError(f"stack {stack}: cannot describe it: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    try:
        names = StackNames(
            config_table=outputs["ConfigTableName"],
            state_table=outputs["StateTableName"],
            ledger_table=outputs["LedgerTableName"],
            data_bucket=outputs["DataBucketName"],
        )
    except KeyError as exc:
        raise InputValidationError(
            f"stack {stack}: no output {exc.args[0]} (not a tradebot stack?)"
        ) from None
    return names, parameters


def settings_of(parameters: Mapping[str, str]) -> TemplateDefaults:
    """The deployment's settings: its stack parameters, template.yaml's defaults where one is absent."""
    defaults = TemplateDefaults.read()
    return TemplateDefaults(
        account=parameters.get("AccountId") or defaults.account,
        params_max_age_days=int(parameters.get("ParamsMaxAgeDays") or defaults.params_max_age_days),
        tolerated_failure_percentage=float(
            parameters.get("OptimizeToleratedFailurePercentage") or defaults.tolerated_failure_percentage
        ),
    )
