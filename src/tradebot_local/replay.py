"""`tradebot replay`: the real state machine once per session over a range, on a local account of its own.

Exactly what `tradebot run --as-of D` does day after day (the emulator deploys template.yaml once for the
whole range): for each NYSE session D in [start, end], one execution decides at D's close; the account's
state at D's close is recorded (cash, equity marked at D's closes); then the executor drains the queue,
filling D's orders at the next session's open (the source has it: the range is in the past) with its
clock at that session's close (:func:`fill_clock`), so it reads no bar of a later day.

The replay's account lives in ``$TRADEBOT_STATE_DIR/replays/<key>/account.json`` (key: a hash of the
arguments), apart from `tradebot run`'s account. The account is saved with the completed sessions' rows, in
one atomic write, only between sessions: every SAVE_EVERY sessions, at the end, and when the replay is
interrupted (Ctrl-C, an error) - then as of the last save if a session was in progress, because a session
cut short leaves partial state (fills of some of its orders, an execution still running in the emulator's
thread) that no save may capture. A replay restarted with the same arguments goes on after the last saved
session and does nothing twice: the sessions after it (at most SAVE_EVERY, with the one in progress) are run
again from the state they started from. :class:`ReplayInterrupted` says how far the saved account goes.
The rows are items of the local state table, owned by this module::

    pk = "REPLAY"   sk = "<session>"   row  S   the SessionRow as JSON (date, equity, cash, status, note)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from tradebot.calendar import get_calendar
from tradebot.clock import FixedClock
from tradebot.contracts import PipelineRequest
from tradebot.data import BarSource, source_from_spec
from tradebot.errors import InputValidationError, UnknownSymbolError
from tradebot.settings import get_settings
from tradebot.store.accounts import AccountStore
from tradebot.store.dynamo import pages
from tradebot.store.ledger import OrderLedger
from tradebot.store.trading_config import ConfigStore
from tradebot_local.account_file import DEFAULT_STATE_DIR, STATE_DIR_ENV, AccountFile
from tradebot_local.emulator import REGION, LambdaDispatcher
from tradebot_local.history import AccountHistory, FillRow, OrderRow, SessionRow, SplitRow
from tradebot_local.runner import local_stack, start_and_wait
from tradebot_local.settle import build_executor

ROW_PK = "REPLAY"
# sessions between two saves of the account file (a save writes the whole account: saving after every
# session was 43% of a 250-session replay); an interruption between sessions saves too; one mid-session,
# or a crash, redoes at most these (and the one in progress) on the next run
SAVE_EVERY = 10


class ReplayInterrupted(KeyboardInterrupt):
    """A replay stopped by Ctrl-C (its ``__cause__``) with ``saved`` of ``total`` sessions in its saved
    account; ``in_session``: the session that was in progress (run again on restart), if any. (An error
    stops a replay as itself, with this message added as a note.)"""

    def __init__(self, saved: int, total: int, in_session: date | None) -> None:
        where = f" during {in_session}" if in_session else ""
        super().__init__(
            f"replay interrupted{where}: {saved} of {total} sessions saved; "
            "run the same command again to go on from there"
        )
        self.saved = saved
        self.total = total
        self.in_session = in_session


OnSession = Callable[[int, int, date], None]  # (sessions done, sessions, the session just done)


@dataclass(frozen=True)
class ReplayRequest:
    source: str
    symbols: tuple[str, ...] | None
    start: date
    end: date
    strategy: str | None = None  # None: the trading config's

    def key(self) -> str:
        text = json.dumps(asdict(self), default=str, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def pipeline_request(self, session: date) -> PipelineRequest:
        return PipelineRequest(
            source=self.source,
            symbols=list(self.symbols) if self.symbols else None,
            as_of=session,
            strategy=self.strategy,
        )


def replay_directory(request: ReplayRequest) -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR) / "replays" / request.key()


def replay(
    request: ReplayRequest,
    *,
    on_session: OnSession | None = None,
    timeout_s: float = 600,
    fresh: bool = False,
    dispatcher: LambdaDispatcher | None = None,
) -> AccountHistory:
    """Run (or go on with) the replay of ``request``; its history. ``fresh``: forget an earlier one.
    ``dispatcher``: the emulator's Lambda dispatcher (default a new one; a benchmark reads its
    invocations)."""
    sessions = range_sessions(request.start, request.end)
    source = source_from_spec(request.source)
    check_symbols(source, request.symbols)
    directory = replay_directory(request)
    account = AccountFile(directory / "account.json")
    if fresh:
        account.reset(keep_config=False)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "request.json").write_text(json.dumps(asdict(request), default=str, indent=1) + "\n")
    with account.locked(), local_stack(dispatcher or LambdaDispatcher(), account) as (dep, _):
        ddb = boto3.client("dynamodb", region_name=REGION)
        state = dep.refs["StateTable"]
        done = {row.date: row for row in _rows(ddb, state)}
        saved = len(done)
        in_session: date | None = None
        try:
            for day in sessions:
                if day not in done:
                    in_session = day
                    report = start_and_wait(dep, request.pipeline_request(day), run_id(day), timeout_s)
                    status = "DECIDED" if report.status == "SUCCEEDED" else "FAILED"
                    row = account_at_close(local_books(), source, day, status, report.error_message or "")
                    build_executor(source, fill_clock(day)).drain()  # the session's orders, at the next open
                    _put_row(ddb, state, row)
                    done[day] = row
                    in_session = None
                    if len(done) - saved >= SAVE_EVERY:
                        account.save(ddb, dep.refs)  # the account and the rows, in one atomic write
                        saved = len(done)
                if on_session is not None:
                    on_session(sum(1 for d in sessions if d in done), len(sessions), day)
        except BaseException as exc:  # Ctrl-C, an error: keep what is whole, say how far it goes
            if in_session is None and len(done) > saved:
                account.save(ddb, dep.refs)
                saved = len(done)
            stopped = ReplayInterrupted(saved, len(sessions), in_session)
            if isinstance(exc, KeyboardInterrupt):
                raise stopped from exc
            exc.add_note(str(stopped))
            raise
        if len(done) > saved:
            account.save(ddb, dep.refs)
        return history_of(local_books(), source, [done[d] for d in sessions])


def check_symbols(source: BarSource, symbols: Sequence[str] | None) -> None:
    """UnknownSymbolError naming the requested ``symbols`` the source does not have, when it lists what it
    has (a directory of CSVs, the sample; Yahoo has no list: its runs report each symbol's failure)."""
    offered = source.default_symbols() if symbols else None
    if not symbols or offered is None:
        return
    known = {s.upper() for s in offered}
    unknown = [s for s in symbols if s.upper() not in known]
    if unknown:
        raise UnknownSymbolError(
            f"{source.name}: no data for {', '.join(unknown)} ({len(known)} symbols offered, e.g. "
            f"{', '.join(sorted(known)[:5])})"
        )


def range_sessions(start: date, end: date, now: datetime | None = None) -> list[date]:
    """The NYSE sessions in [start, end]; InputValidationError when there is none, or when the range
    reaches a session that has not closed yet (``now``: default the system's time)."""
    calendar = get_calendar()
    sessions = calendar.sessions(start, end)
    if not sessions:
        raise InputValidationError(f"no NYSE session in {start}..{end}")
    latest = calendar.latest_completed_session(now or datetime.now(UTC))
    if sessions[-1] > latest:
        raise InputValidationError(
            f"{sessions[-1]} has not closed yet (the latest closed session is {latest}): a replay decides "
            "past sessions only"
        )
    return sessions


def fill_clock(session: date) -> FixedClock:
    """The executor's time for ``session``'s orders: the close of the session after it (their fill
    session). A live executor has filled them by then; it asks for no bar of a later day (a split the
    source restates on a later day is not seen before that day, as it was not in production)."""
    calendar = get_calendar()
    return FixedClock(calendar.session_close(calendar.next_session(session)))


def run_id(session: date) -> str:
    """The run (execution name) deciding ``session`` in a replay (simulate uses the same)."""
    return f"replay-{session}"


@dataclass(frozen=True)
class Books:
    """Where an account's history is kept: its config, its state (cash, positions, decisions), its ledger."""

    config: ConfigStore
    accounts: AccountStore
    ledger: OrderLedger
    account: str


def local_books() -> Books:
    """The local stack's tables, named by the functions' settings."""
    settings = get_settings()
    return Books(
        ConfigStore(settings.config_table),
        AccountStore(settings.state_table),
        OrderLedger(settings.ledger_table),
        settings.account_id,
    )


def account_at_close(books: Books, source: BarSource, day: date, status: str, note: str) -> SessionRow:
    """The account's cash and equity at ``day``'s close (positions at their closes of that day, or the
    last close before it)."""
    initial = books.config.load().risk.initial_capital
    portfolio = books.accounts.load(books.account, initial)
    closes = last_closes(source, sorted(portfolio.positions), day)
    return SessionRow(
        date=day,
        equity=portfolio.equity(closes),
        cash=portfolio.cash,
        status=status,
        note="" if status == "DECIDED" else note,
    )


def last_closes(source: BarSource, symbols: Sequence[str], day: date) -> dict[str, float]:
    """Each symbol's last close on or before ``day`` (within 30 calendar days)."""
    if not symbols:
        return {}
    loaded = source.load(list(symbols), day - timedelta(days=30), day)
    return {s: float(f["Close"].iloc[-1]) for s, f in loaded.frames.items() if len(f)}


def history_of(books: Books, source: BarSource, rows: list[SessionRow]) -> AccountHistory:
    """The account's history: the rows, and every order and fill in its ledger."""
    initial = books.config.load().risk.initial_capital
    history = AccountHistory(
        initial_capital=initial, sessions=rows, source=source.name, synthetic=source.synthetic
    )
    for entry in books.ledger.list_orders():
        o = entry.order
        history.orders.append(
            OrderRow(o.order_id, o.as_of, o.symbol, o.side, o.quantity, entry.status, entry.reason)
        )
        if entry.fill is not None:
            f = entry.fill
            history.fills.append(
                FillRow(o.order_id, o.as_of, f.session, f.symbol, f.side, f.quantity, f.price, f.commission)
            )
    for r in books.accounts.splits(books.account):
        history.splits.append(
            SplitRow(r.symbol, r.ex_date, r.ratio_text, r.shares_before, r.shares_after, r.cash_in_lieu)
        )
    return history


def _rows(ddb: Any, table: str) -> list[SessionRow]:
    items = pages(
        ddb.query,
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ROW_PK}},
        ConsistentRead=True,
    )
    rows = []
    for item in items:
        data = json.loads(item["row"]["S"])
        rows.append(SessionRow(**{**data, "date": date.fromisoformat(data["date"])}))
    return rows


def _put_row(ddb: Any, table: str, row: SessionRow) -> None:
    data = {**asdict(row), "date": row.date.isoformat()}
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": ROW_PK}, "sk": {"S": row.date.isoformat()}, "row": {"S": json.dumps(data)}},
    )
