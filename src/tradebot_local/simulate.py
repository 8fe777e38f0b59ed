"""`tradebot simulate`: what the deployed bot would have done over past sessions, in-process and fast.

For every NYSE session D in [start, end], the decisions the pipeline makes, made by the pipeline's own
code, step by step, without the state machine, the Lambda dispatch, S3 or the queue:

* FetchMarketData's: the universe's bars up to D's close (lookback as the step's), the quality gate
  (``tradebot.data.universe.fetch_bars``); the bars then take the run's S3 format round trip, as the Map's
  children read them;
* OptimizeStrategy's rules (``tradebot.pipeline.optimize``): parameters reused while younger than
  PARAMS_MAX_AGE_DAYS, else the same walk-forward with the config's costs; a symbol that fails is
  reported; GenerateSignals' (``tradebot.pipeline.signals``): withheld symbols, the tolerance, the signal
  and its scores per symbol;
* PaperTrade's decision itself (``tradebot.pipeline.trade.place_orders``): the gate, corporate actions,
  the daily loss limit, ranking and sizing;
* the executor's: each order of the session, in the order PaperTrade sent them, taken through its life by
  ``tradebot.execution.executor.OrderExecutor`` with the paper broker (the next session's open, slippage,
  commission, whole shares), then the pending sweep.

The account (cash, positions, decisions, halts, the ledger) lives in DynamoDB tables shaped by
template.yaml, held in memory by moto's DynamoDB (no other AWS service is emulated): the account's
bookkeeping is the production code's, not a second implementation of it. A run whose step fails
(halted, bad data, too many failed optimizations) is a session without a decision, as in the pipeline.
The settings are template.yaml's defaults (PARAMS_MAX_AGE_DAYS, the optimize tolerance, the account) and
the trading config the defaults (a fresh account), as `tradebot replay` has them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import boto3

from tradebot.calendar import get_calendar
from tradebot.clock import FixedClock
from tradebot.contracts import OptimizeResult, Order, Signal, SignalsDocument, SymbolIssue
from tradebot.data import BarSource, source_from_spec
from tradebot.data.run_bars import decode_run_bars, encode_run_bars
from tradebot.data.universe import ensure_session_closed, fetch_bars
from tradebot.execution.executor import ExecutorReport, OrderExecutor
from tradebot.execution.next_bars import BarSourcePrices
from tradebot.execution.service import paper_broker
from tradebot.pipeline.fetch import DEFAULT_UNIVERSE, LOOKBACK_DAYS
from tradebot.pipeline.optimize import is_fresh, optimization_failure, optimized, optimizer_fill, reused
from tradebot.pipeline.signals import check_tolerance, signal_for, withheld_symbols
from tradebot.pipeline.trade import place_orders
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.account import Decision
from tradebot_local.cfn import load_template
from tradebot_local.emulator import REGION, emulated_aws
from tradebot_local.history import AccountHistory, SessionRow
from tradebot_local.provision import TEMPLATE, LocalDeployment, create_tables
from tradebot_local.replay import (
    Books,
    ReplayRequest,
    account_at_close,
    check_symbols,
    fill_clock,
    history_of,
    range_sessions,
    run_id,
)

OnSession = Callable[[int, int, date], None]


# a simulation is asked for as a replay is (the sessions, the source, the symbols, the strategy), which is
# what lets `tradebot replay --check` compare the two on the same request
SimulationRequest = ReplayRequest


@dataclass(frozen=True)
class TemplateDefaults:
    """The settings a deployed stack has by default (template.yaml's Parameters)."""

    account: str
    params_max_age_days: int
    tolerated_failure_percentage: float

    @classmethod
    def read(cls) -> TemplateDefaults:
        parameters = load_template(TEMPLATE).get("Parameters", {})
        return cls(
            account=str(parameters["AccountId"]["Default"]),
            params_max_age_days=int(parameters["ParamsMaxAgeDays"]["Default"]),
            tolerated_failure_percentage=float(parameters["OptimizeToleratedFailurePercentage"]["Default"]),
        )


Seed = Callable[[Books], Mapping[tuple[str, str], OptimizeResult]]
OnDecided = Callable[[date, Decision | None], None]


def simulate_range(
    request: SimulationRequest,
    *,
    on_session: OnSession | None = None,
    source: BarSource | None = None,
    defaults: TemplateDefaults | None = None,
    seed: Seed | None = None,
    on_decided: OnDecided | None = None,
) -> AccountHistory:
    """The account's history over the request's sessions (see the module doc).

    ``source``: the bars (default: ``request.source``'s); ``defaults``: the deployment's settings (default:
    template.yaml's). ``seed`` writes the account's state before the first session into the books (a fresh
    account without it) and returns the parameters OptimizeStrategy had stored, by (symbol, strategy);
    ``on_decided(session, its Decision or None)`` after each session (`tradebot reconcile` uses both)."""
    source = source or source_from_spec(request.source)
    sessions = range_sessions(request.start, request.end)
    check_symbols(source, request.symbols)
    defaults = defaults or TemplateDefaults.read()
    with emulated_aws():
        dep = LocalDeployment(template=load_template(TEMPLATE))
        create_tables(dep)
        ddb = boto3.client("dynamodb", region_name=REGION)
        books = Books(
            ConfigStore(dep.refs["ConfigTable"], ddb),
            AccountStore(dep.refs["StateTable"], ddb),
            OrderLedger(dep.refs["LedgerTable"], ddb),
            defaults.account,
        )
        params = seed(books) if seed is not None else {}
        simulation = _Simulation(request, source, books, defaults, ddb)
        simulation.params.update(params)
        rows = []
        for done, day in enumerate(sessions, start=1):
            rows.append(simulation.session(day))
            if on_decided is not None:
                on_decided(day, books.accounts.decision(defaults.account, day))
            if on_session is not None:
                on_session(done, len(sessions), day)
        return history_of(books, source, rows)


class _Simulation:
    def __init__(
        self,
        request: SimulationRequest,
        source: BarSource,
        books: Books,
        defaults: TemplateDefaults,
        ddb: object,
    ) -> None:
        self.request = request
        self.source = source
        self.books = books
        self.defaults = defaults
        self.calendar = get_calendar()
        # the decision at the session's close; the executor at the fill session's close (replay.fill_clock)
        self.clock = FixedClock(datetime.combine(request.start, time(), UTC))  # moved per session
        # what OptimizeStrategy keeps in the params table: the last result per (symbol, strategy)
        self.params: dict[tuple[str, str], OptimizeResult] = {}
        config = books.config.load()
        self.executor = OrderExecutor(
            ledger=books.ledger,
            accounts=books.accounts,
            config=books.config,
            broker=paper_broker(config, BarSourcePrices(source, clock=self.clock), self.clock),
            clock=self.clock,
            ddb=ddb,
            logger=_quiet(),
            on_price_lookup_failure=lambda: None,
        )

    def session(self, day: date) -> SessionRow:
        """Decide ``day`` (a failed step: no decision), record the account at its close, then execute."""
        queue: list[Order] = []
        self.clock.move_to(self.calendar.session_close(day))
        try:
            self._decide(day, queue)
            status, note = "DECIDED", ""
        except Exception as exc:  # a step's failure ends the run, as the state machine's Catch does
            status, note = "FAILED", str(exc)
        row = account_at_close(self.books, self.source, day, status, note)
        report = ExecutorReport()
        self.clock.move_to(fill_clock(day).now())
        for order in queue:  # SQS FIFO: one message group per account, in the order they were sent
            self.executor.process(order, report)
        self.executor.fill_pending()
        return row

    def _decide(self, day: date, queue: list[Order]) -> None:
        config = self.books.config.load()
        now = self.clock.now()
        ensure_session_closed(self.calendar, day, now)
        request = self.request
        universe = list(
            request.symbols or config.universe or self.source.default_symbols() or DEFAULT_UNIVERSE
        )
        fetched = fetch_bars(
            self.source,
            universe,
            day,
            self.calendar,
            run_id=run_id(day),
            start=day - timedelta(days=LOOKBACK_DAYS),
            explicit=bool(request.symbols),
        )
        if not fetched.ok:
            return  # nothing to trade
        symbols = sorted(fetched.ok)
        bars = decode_run_bars(encode_run_bars({s: fetched.ok[s] for s in symbols}))
        strategy = request.strategy or config.strategy
        fill = optimizer_fill(config.risk)
        results: list[OptimizeResult] = []
        failed: list[SymbolIssue] = []
        for symbol in symbols:
            stored = self.params.get((symbol, strategy))
            if stored is not None and is_fresh(stored, day, self.defaults.params_max_age_days):
                results.append(reused(stored))
                continue
            try:
                result = optimized(bars[symbol], symbol, strategy, day, fill)
            except Exception as exc:
                failed.append(optimization_failure(symbol, exc))
                continue
            self.params[(symbol, strategy)] = result
            results.append(result)
        withhold = withheld_symbols(fetched.report)
        signals: list[Signal] = [signal_for(bars[r.symbol], r) for r in results if r.symbol not in withhold]
        check_tolerance(failed, len(symbols), self.defaults.tolerated_failure_percentage)
        document = SignalsDocument(
            run_id=run_id(day),
            as_of=day,
            signals=signals,
            failed=failed,
            withheld=[withhold[r.symbol] for r in results if r.symbol in withhold],
            splits=fetched.report.splits,
        )
        place_orders(
            document,
            synthetic=self.source.synthetic,
            config=config,
            account=self.books.account,
            accounts=self.books.accounts,
            ledger=self.books.ledger,
            send=queue.extend,
            now=now,
            previous_session=self.calendar.previous_session(day),
        )


def _quiet() -> logging.Logger:
    logger = logging.getLogger("tradebot_local.simulate")
    logger.setLevel(logging.ERROR)
    return logger
