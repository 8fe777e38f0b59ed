"""Typed contracts: every state's input and output, and the order message (:class:`Order`, :class:`Fill`).

Contracts between states carry pointers and small summaries, never bar data (Step Functions payloads are
capped at 256 KB). Handlers parse events with :func:`parse_event`, which turns pydantic's error into the
project's :class:`~tradebot.errors.InputValidationError`. The order message is built and parsed by
:mod:`tradebot.store.queue` only.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tradebot.errors import InputValidationError

Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9^][A-Z0-9.\-=^]{0,19}$")]
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,80}$")]
Side = Literal["BUY", "SELL"]

# The strategies the pipeline runs, each the module tradebot/strategy/<name>.py (loaded by
# tradebot.strategy.registry). Adding one: its module, and its name here.
STRATEGY_NAMES: tuple[str, ...] = (
    "sma_crossover",
    "ema_crossover",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
    "ts_momentum",
)


def _known_strategy(name: str) -> str:
    if name not in STRATEGY_NAMES:
        raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(sorted(STRATEGY_NAMES))}")
    return name


StrategyName = Annotated[str, AfterValidator(_known_strategy)]


class Contract(BaseModel):
    """Base of every state contract: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def parse_event(model: type[M], event: Any) -> M:
    """Validate ``event`` against ``model`` or raise InputValidationError with a readable message."""
    if not isinstance(event, dict):
        raise InputValidationError(f"{model.__name__}: expected a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<event>'}: {err['msg']}" for err in exc.errors()
        )
        raise InputValidationError(f"{model.__name__}: {problems}") from None


class S3Pointer(Contract):
    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1)


# --- state machine input and FetchMarketData ---------------------------------------------------------


class PipelineRequest(Contract):
    """The state machine's input (all optional: the schedule sends ``{}``)."""

    as_of: date | None = None
    source: str | None = Field(default=None, description="sample | yfinance | csv:DIR | s3://bucket/prefix")
    symbols: list[Symbol] | None = Field(default=None, min_length=1, max_length=500)
    strategy: StrategyName | None = None
    # fail the run (DataQualityError) when more than this fraction of the symbols cannot be loaded;
    # None: tradebot.data.universe.DEFAULT_MAX_FAILED_FRACTION (0.5)
    max_failed_fraction: float | None = Field(default=None, ge=0, le=1)


class FetchEvent(Contract):
    run_id: RunId
    request: PipelineRequest = PipelineRequest()


class SymbolIssue(Contract):
    symbol: str
    reason: str  # short code: stale | no_data | nan | bad_ohlc | non_positive | error | too_short
    detail: str = ""  # (warnings: possible_split | missing_sessions | nan_dropped | fetch_failed | ...)


class FetchStats(Contract):
    """How a run's bars were obtained (the incremental archive is used for live sources only)."""

    archive: str | None = None  # s3://bucket/archive/bars, when the source is fronted by the archive
    requested: int = 0  # symbols asked of the source
    from_archive: int = 0  # symbols whose history came from the archive
    new_bars: int = 0  # bars the archive did not have
    restated: list[str] = []  # symbols whose stored history the source restated (refetched)
    source_calls: int = 0  # requests to the source (each one batched)
    seconds: float = 0.0


class SplitEvent(Contract):
    """A split the source reported with its prices (yfinance's "Stock Splits"): ``ratio`` new shares per
    old share (4.0 for 4:1, 0.1 for 1:10), taking effect at the open of ``ex_date``."""

    symbol: Symbol
    ex_date: date
    ratio: float = Field(gt=0, allow_inf_nan=False)


class DataQualityReport(Contract):
    """The per-run quality report: which symbols are tradable, which were skipped and why.
    Stored as JSON at ``runs/<as_of>/<run_id>/quality.json`` next to the run's bars."""

    run_id: RunId
    as_of: date
    source: str
    synthetic: bool
    expected_last_session: date  # every symbol's last bar must be this session (else "stale")
    ok: list[str] = []
    skipped: list[SymbolIssue] = []
    warnings: list[SymbolIssue] = []
    fetch: FetchStats = FetchStats()
    splits: list[SplitEvent] = []  # split events the source reported in the bars it returned


class FetchResult(Contract):
    """FetchMarketData's output: counts and pointers only (its size does not grow with the universe)."""

    run_id: RunId
    as_of: date
    market_open: bool
    tradable: bool  # market open and at least one symbol passed the quality checks
    source: str
    synthetic: bool  # True when the bars are generated, not real market data
    strategy: StrategyName
    symbols: int = Field(default=0, ge=0)  # symbols that passed the quality checks (in the manifest)
    skipped: int = Field(default=0, ge=0)  # symbols skipped, each with its reason in the quality report
    warnings: int = Field(default=0, ge=0)  # warnings in that report (symbols kept, worth a look)
    quality: S3Pointer | None = None  # the run's DataQualityReport (JSON)
    manifest: S3Pointer | None = None  # JSON array of OptimizeBatch: the optimize Map's items
    batches: int = Field(default=0, ge=0)  # items in the manifest
    # the optimize Map's MaxConcurrency and ToleratedFailurePercentage (settings; template parameters)
    max_concurrency: int = Field(default=1, ge=1)
    tolerated_failure_percentage: float = Field(default=0.0, ge=0, le=100)
    next_session: date | None = None


# --- OptimizeStrategy (one Distributed Map item per batch of symbols) ----------------------------------


class OptimizeBatch(Contract):
    """One item of the run's manifest: a batch of symbols and the S3 object holding their bars."""

    batch: int = Field(ge=0)
    symbols: list[Symbol] = Field(min_length=1)
    bars: S3Pointer


class OptimizeEvent(Contract):
    run_id: RunId
    as_of: date
    strategy: StrategyName
    batch: OptimizeBatch


class Scores(Contract):
    """A parameter set's scores on one window (formulas: tradebot.strategy.metrics)."""

    sharpe: float
    total_return_pct: float
    max_drawdown_pct: float
    n_trades: int
    # added with the research engine; absent in parameters stored before it
    sortino: float | None = None
    cagr_pct: float | None = None
    calmar: float | None = None
    exposure_pct: float | None = None


class WalkForwardFold(Contract):
    """One walk-forward fold: its windows, its in-sample winner and that winner's scores."""

    train_start: date
    train_end: date
    test_start: date | None
    test_end: date | None
    params: dict[str, float]
    in_sample: Scores
    out_of_sample: Scores | None
    used_default: bool = False  # no set had enough trades in the training window: the defaults


class OptimizeResult(Contract):
    symbol: Symbol
    strategy: StrategyName
    params: dict[str, float]
    in_sample: Scores
    out_of_sample: Scores | None
    optimized_on: date
    reoptimized: bool
    evaluated: int  # parameter sets evaluated this run (0 when fresh params were reused)
    objective: str | None = None  # what the parameters were chosen for (None: stored before it was recorded)
    walk_forward: list[WalkForwardFold] = Field(default_factory=list, max_length=50)


class OptimizeBatchResult(Contract):
    """What OptimizeStrategy wrote for one batch (an S3 object, tradebot.store.runs): each symbol's
    parameters and scores, and the symbols whose optimization failed, with the reason."""

    run_id: RunId
    as_of: date
    strategy: StrategyName
    batch: int = Field(ge=0)
    results: list[OptimizeResult] = []
    failed: list[SymbolIssue] = []


class OptimizeSummary(Contract):
    """OptimizeStrategy's output for one batch (a Map child's output: counts and the result's pointer)."""

    batch: int = Field(ge=0)
    optimized: int = Field(ge=0)  # symbols with parameters (reused or re-optimized)
    reoptimized: int = Field(ge=0)
    evaluated: int = Field(ge=0)  # parameter sets evaluated
    failed: int = Field(ge=0)
    result: S3Pointer


# --- GenerateSignals -----------------------------------------------------------------------------------


class SignalsEvent(Contract):
    run_id: RunId
    as_of: date
    manifest: S3Pointer
    batches: int = Field(ge=1)
    # more failed symbols than this (percent of the manifest's) fails the run: nothing is traded
    tolerated_failure_percentage: float = Field(default=0.0, ge=0, le=100)
    # the run's DataQualityReport: its possible_split warnings withhold signals, its split events are
    # passed on to PaperTrade (None: neither)
    quality: S3Pointer | None = None


class Signal(Contract):
    symbol: Symbol
    strategy: StrategyName
    params: dict[str, float]
    target_weight: float = Field(ge=-1.0, le=1.0)  # fraction of the per-position allocation; 0 = flat
    reason: str
    close: float = Field(gt=0, allow_inf_nan=False)
    bar_date: date
    # the closes of the last bars before bar_date (tradebot.pipeline.signals.RECENT_BARS) as today's data
    # has them: PaperTrade compares them with the closes it recorded (a split restates the history)
    recent_closes: dict[date, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=10
    )
    # what ranks candidates (tradebot.trading.sizing): the objective the parameters were chosen for,
    # measured out of sample by the walk-forward, then in sample; None when not measured
    out_of_sample_score: float | None = None
    in_sample_score: float | None = None

    @model_validator(mode="after")
    def _recent_closes_before_the_bar(self) -> Signal:
        late = [d for d in self.recent_closes if d >= self.bar_date]
        if late:
            raise ValueError(f"recent_closes: {late[0]} is not before the signal's bar ({self.bar_date})")
        return self

    @property
    def previous_bar_date(self) -> date | None:
        """The session of the bar before this one, as today's data has it (None: unknown)."""
        return max(self.recent_closes) if self.recent_closes else None

    @property
    def previous_close(self) -> float | None:
        day = self.previous_bar_date
        return None if day is None else self.recent_closes[day]


class SignalsDocument(Contract):
    """Every symbol's signal for one run (one S3 object, tradebot.store.runs), the symbols whose
    optimization failed, with the reason, and those whose signal was withheld (the data quality gate
    warned that their history may hold an unadjusted split). Each signal is of the document's session
    (``bar_date`` is ``as_of``) and names a symbol no other signal names. ``splits``: the split events
    the source reported (PaperTrade prefers their ratios to the ratios it detects)."""

    run_id: RunId
    as_of: date
    signals: list[Signal]
    failed: list[SymbolIssue] = []
    withheld: list[SymbolIssue] = []
    splits: list[SplitEvent] = []

    @model_validator(mode="after")
    def _one_session_one_signal_per_symbol(self) -> SignalsDocument:
        for i, s in enumerate(self.signals):
            if s.bar_date != self.as_of:
                raise ValueError(
                    f"signals[{i}].bar_date: {s.symbol}'s bar is of {s.bar_date}, not of the session "
                    f"decided on ({self.as_of})"
                )
        withheld = {w.symbol for w in self.withheld}
        for i, s in enumerate(self.signals):
            if s.symbol in withheld:
                raise ValueError(f"signals[{i}].symbol: {s.symbol}'s signal is listed as withheld")
        seen: set[str] = set()
        for i, s in enumerate(self.signals):
            if s.symbol in seen:
                raise ValueError(f"signals[{i}].symbol: {s.symbol} has more than one signal")
            seen.add(s.symbol)
        return self


class SignalsResult(Contract):
    """GenerateSignals' output: counts and the pointer to the run's SignalsDocument."""

    run_id: RunId
    as_of: date
    signals: S3Pointer
    count: int = Field(ge=0)
    long: int = Field(ge=0)  # signals with a positive target
    failed: int = Field(ge=0)  # symbols without a signal: their optimization failed
    withheld: int = Field(default=0, ge=0)  # symbols without a signal: possible unadjusted split


# --- PaperTrade ----------------------------------------------------------------------------------------


class PaperTradeEvent(Contract):
    run_id: RunId
    as_of: date
    synthetic: bool
    signals: S3Pointer  # the run's SignalsDocument


class Order(Contract):
    """An order message (SQS body) and a ledger record's immutable part."""

    order_id: str = Field(pattern=r"^[a-f0-9]{24}$")
    run_id: RunId
    account: str = Field(min_length=1)
    as_of: date  # the session whose close the decision was made on; fills at the next session's open
    symbol: Symbol
    side: Side
    quantity: int = Field(gt=0)
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    limit_price: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # LIMIT: the worst price
    time_in_force: Literal["DAY"] = "DAY"  # valid for the first session after as_of; cancelled at its close
    reference_price: float = Field(gt=0, allow_inf_nan=False)  # the close it was sized on (not a fill price)
    synthetic: bool
    reason: str = ""
    created_at: datetime

    @model_validator(mode="after")
    def _limit_price_iff_limit_order(self) -> Order:
        if (self.order_type == "LIMIT") != (self.limit_price is not None):
            raise ValueError("limit_price is required for a LIMIT order and not allowed for a MARKET order")
        return self


def order_id_for(account: str, as_of: date, symbol: str, side: str) -> str:
    """Deterministic: a retried step or a re-run of the same day yields the same id."""
    digest = hashlib.sha256(f"{account}|{as_of.isoformat()}|{symbol}|{side}".encode()).hexdigest()
    return digest[:24]


class PaperTradeResult(Contract):
    """PaperTrade's output: counts and pointers (the orders are in the decision and the ledger)."""

    run_id: RunId
    as_of: date
    orders: int = Field(ge=0)  # orders of the session's decision
    sent: int = Field(ge=0)
    already_recorded: int = 0  # orders of this day that a previous attempt already recorded
    already_decided: bool = False  # an earlier run decided this session: its orders, nothing new placed
    candidates: int = Field(default=0, ge=0)  # symbols that wanted a position
    decision: S3Pointer | None = None  # the ranking of the candidates and why each was left out
    corporate_actions: int = Field(default=0, ge=0)  # splits applied since the previous decision
    stopped: int = Field(default=0, ge=0)  # symbols not traded: stopped until an operator lifts it


# --- fills ---------------------------------------------------------------------------------------------


class Fill(Contract):
    order_id: str
    symbol: Symbol
    side: Side
    quantity: int = Field(gt=0)
    price: float = Field(gt=0, allow_inf_nan=False)
    commission: float = Field(ge=0, allow_inf_nan=False)
    session: date  # the session whose open it filled at
