"""The four pipeline steps, each one function of (validated event, runtime) -> validated result.

Handlers in functions/ parse the event, call one of these and shape the output. Adapters (S3, DynamoDB,
SQS, data sources) are built once per process in :class:`Runtime`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import cache, cached_property, lru_cache
from typing import Any

import pandas as pd
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from tradebot import aws
from tradebot.calendar import TradingCalendar, get_calendar
from tradebot.clock import Clock, SystemClock
from tradebot.config import ConfigStore
from tradebot.data import default_as_of, source_from_spec
from tradebot.data.archive import read_run_bars, write_run_bars
from tradebot.data.fetch import ensure_session_closed, fetch_bars, save_archive, write_quality_report
from tradebot.data.history import S3BarArchive
from tradebot.errors import RetryableError, UnknownSymbolError
from tradebot.execution.placement import place_orders
from tradebot.ledger import OrderLedger
from tradebot.models import (
    FetchEvent,
    FetchResult,
    OptimizeEvent,
    OptimizeResult,
    Order,
    PaperTradeEvent,
    PaperTradeResult,
    S3Pointer,
    Scores,
    Signal,
    SignalsEvent,
    SignalsResult,
    WalkForwardFold,
)
from tradebot.portfolio import PortfolioStore
from tradebot.settings import Settings, get_settings
from tradebot.strategy import FillModel, get_strategy, latest_signal, optimize
from tradebot.strategy.optimizer import max_folds

LOOKBACK_DAYS = 3 * 365  # calendar days of history each run loads (~750 sessions)
WALK_FORWARD_FOLDS = 3  # fewer when the history is short (each test window >= 20 bars)
DEFAULT_UNIVERSE = ["SPY", "QQQ", "IWM", "EFA", "TLT", "GLD"]


@dataclass
class Runtime:
    """Everything a step needs from the outside world, created once per cold start."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    calendar: TradingCalendar = field(default_factory=get_calendar)

    @property
    def s3(self) -> Any:
        return aws.client("s3")

    @property
    def sqs(self) -> Any:
        return aws.client("sqs")

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    @property
    def config(self) -> ConfigStore:
        return ConfigStore(self.settings.config_table, self.ddb)

    @property
    def ledger(self) -> OrderLedger:
        return OrderLedger(self.settings.ledger_table, self.ddb)

    @property
    def portfolios(self) -> PortfolioStore:
        return PortfolioStore(self.settings.state_table, self.ddb)

    @cached_property
    def idempotency(self) -> DynamoDBPersistenceLayer:
        return DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table, boto3_client=self.ddb)


@cache
def runtime() -> Runtime:
    return Runtime(settings=get_settings())


def reset_runtime() -> None:
    """Forget the process's runtime and settings (a new emulator session, or tests)."""
    runtime.cache_clear()
    get_settings.cache_clear()
    _read_bars.cache_clear()


# --- FetchMarketData ---------------------------------------------------------------------------------


def fetch_market_data(event: FetchEvent, rt: Runtime) -> FetchResult:
    """Load the universe's bars up to ``as_of`` (a live source through the incremental S3 archive), check
    them, store the good ones as one S3 object and the run's quality report next to it. Closed days end
    here; anything that fails (bad input, too many symbols without data) fails before any write."""
    request = event.request
    config = rt.config.load()
    source = source_from_spec(
        request.source or rt.settings.data_source, cache_dir=rt.settings.yfinance_cache_dir
    )
    strategy = get_strategy(request.strategy or config.strategy).name
    as_of = request.as_of or default_as_of(source, rt.calendar, rt.clock.now())
    if not rt.calendar.is_session(as_of):
        return FetchResult(
            run_id=event.run_id,
            as_of=as_of,
            source=source.name,
            synthetic=source.synthetic,
            market_open=False,
            tradable=False,
            strategy=strategy,
        )
    if source.live:
        ensure_session_closed(rt.calendar, as_of, rt.clock.now())

    symbols = request.symbols or config.universe or source.default_symbols() or DEFAULT_UNIVERSE
    bucket = rt.settings.data_bucket
    archive = S3BarArchive(rt.s3, bucket) if source.live else None
    fetched = fetch_bars(
        source,
        symbols,
        as_of,
        rt.calendar,
        run_id=event.run_id,
        start=as_of - timedelta(days=LOOKBACK_DAYS),
        archive=archive,
        explicit=bool(request.symbols),
        max_failed_fraction=request.max_failed_fraction,
    )
    if archive is not None:
        save_archive(archive, fetched, source.name)
    prefix = f"runs/{as_of.isoformat()}/{event.run_id}"
    pointer = write_run_bars(rt.s3, bucket, f"{prefix}/bars.csv.gz", fetched.ok) if fetched.ok else None
    report = fetched.report
    return FetchResult(
        run_id=event.run_id,
        as_of=as_of,
        source=source.name,
        synthetic=source.synthetic,
        market_open=True,
        tradable=bool(fetched.ok),
        strategy=strategy,
        symbols=report.ok,
        skipped=report.skipped,
        bars=pointer,
        next_session=rt.calendar.next_session(as_of),
        quality=write_quality_report(rt.s3, bucket, f"{prefix}/quality.json", report),
        warnings=len(report.warnings),
    )


@lru_cache(maxsize=4)
def _read_bars(bucket: str, key: str) -> dict[str, pd.DataFrame]:
    """One read per run object per process: the Map's iterations share a warm Lambda's cache."""
    return read_run_bars(aws.client("s3"), S3Pointer(bucket=bucket, key=key))


def _bars_for(pointer: S3Pointer, symbol: str) -> pd.DataFrame:
    frames = _read_bars(pointer.bucket, pointer.key)
    if symbol not in frames:
        raise UnknownSymbolError(f"{symbol} is not in this run's bars (s3://{pointer.bucket}/{pointer.key})")
    return frames[symbol]


# --- OptimizeStrategy ----------------------------------------------------------------------------------


def optimize_strategy(event: OptimizeEvent, rt: Runtime) -> OptimizeResult:
    """Reuse parameters younger than PARAMS_MAX_AGE_DAYS (and not from the future); else re-optimize."""
    key = {"pk": {"S": f"PARAMS#{event.symbol}"}, "sk": {"S": event.strategy}}
    item = rt.ddb.get_item(TableName=rt.settings.state_table, Key=key, ConsistentRead=True).get("Item")
    if item is not None:
        stored = OptimizeResult.model_validate_json(item["result"]["S"])
        age = (event.as_of - stored.optimized_on).days
        if 0 <= age <= rt.settings.params_max_age_days:
            return stored.model_copy(update={"reoptimized": False, "evaluated": 0})
    # walk-forward over the run's history, costs as the paper broker charges them (fractional sizing:
    # the scores do not depend on the account's size)
    bars = _bars_for(event.bars, event.symbol)
    risk = rt.config.load().risk
    fill = FillModel(fractional=True, commission=risk.commission_rate, slippage_bps=risk.slippage_bps)
    outcome = optimize(bars, event.strategy, fill=fill, folds=max_folds(len(bars), WALK_FORWARD_FOLDS))
    result = OptimizeResult(
        symbol=event.symbol,
        strategy=event.strategy,
        params=dict(outcome.params),
        in_sample=Scores(**outcome.in_sample),
        out_of_sample=Scores(**outcome.out_of_sample) if outcome.out_of_sample else None,
        optimized_on=event.as_of,
        reoptimized=True,
        evaluated=outcome.evaluated,
        objective=outcome.objective,
        walk_forward=[WalkForwardFold.model_validate(asdict(f)) for f in outcome.folds]
        if len(outcome.folds) > 1
        else [],
    )
    rt.ddb.put_item(
        TableName=rt.settings.state_table, Item={**key, "result": {"S": result.model_dump_json()}}
    )
    return result


# --- GenerateSignals -----------------------------------------------------------------------------------


def generate_signals(event: SignalsEvent, rt: Runtime) -> SignalsResult:
    """The target weight per symbol at the ``as_of`` close, with the reason, from the latest parameters."""
    signals = []
    for opt in event.optimized:
        bars = _bars_for(event.bars, opt.symbol)
        weight, reason = latest_signal(bars, opt.strategy, opt.params)
        signals.append(
            Signal(
                symbol=opt.symbol,
                strategy=opt.strategy,
                params=opt.params,
                target_weight=weight,
                reason=reason,
                close=float(bars["Close"].iloc[-1]),
                bar_date=bars.index[-1].date(),
            )
        )
    return SignalsResult(run_id=event.run_id, as_of=event.as_of, signals=signals)


# --- PaperTrade ----------------------------------------------------------------------------------------


def paper_trade(event: PaperTradeEvent, rt: Runtime) -> PaperTradeResult:
    """Kill switch, halt, daily loss limit, then size orders under the risk limits (pending orders count),
    record the session's decision and each order (NEW) in the ledger, then send them to the queue.

    Order ids are deterministic (account, session, symbol, side) and a session is decided once per account
    (tradebot.execution.placement): a retried step or a re-run of the same day re-sends the recorded orders
    still NEW and places nothing new; the queue's deduplication and the ledger's conditions do the rest.
    """
    return place_orders(
        event,
        config=rt.config.load(),
        account=rt.settings.account_id,
        portfolios=rt.portfolios,
        ledger=rt.ledger,
        send=lambda orders: _send_orders(rt, orders),
        now=rt.clock.now(),
        previous_session=rt.calendar.previous_session(event.as_of),
    )


def paper_trade_once(event: PaperTradeEvent, rt: Runtime, lambda_context: Any) -> dict[str, Any]:
    """:func:`paper_trade` behind a Powertools idempotency record keyed on (run_id, as_of).

    Step Functions retries a Task whose Lambda timed out or hit a service error even when the function
    finished; the retry then returns the recorded result instead of sizing and sending again. (Re-running
    would be harmless anyway: the ledger's conditional writes are the real guarantee.)
    """
    config = IdempotencyConfig(event_key_jmespath="[run_id, as_of]", expires_after_seconds=7 * 86_400)
    config.register_lambda_context(lambda_context)

    @idempotent_function(data_keyword_argument="request", persistence_store=rt.idempotency, config=config)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return paper_trade(PaperTradeEvent.model_validate(request), rt).model_dump(mode="json")

    result: dict[str, Any] = once(request=event.model_dump(mode="json"))
    return result


def _send_orders(rt: Runtime, orders: list[Order]) -> None:
    for start in range(0, len(orders), 10):
        batch = orders[start : start + 10]
        response = rt.sqs.send_message_batch(
            QueueUrl=rt.settings.orders_queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(o.model_dump(mode="json")),
                    "MessageGroupId": o.account,
                    "MessageDeduplicationId": o.order_id,
                }
                for i, o in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            raise RetryableError(
                f"SQS rejected {len(response['Failed'])} order messages: {response['Failed']}"
            )
