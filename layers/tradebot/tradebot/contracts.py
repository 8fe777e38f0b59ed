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


class FetchResult(Contract):
    run_id: RunId
    as_of: date
    market_open: bool
    tradable: bool  # market open and at least one symbol passed the quality checks
    source: str
    synthetic: bool  # True when the bars are generated, not real market data
    strategy: StrategyName
    symbols: list[Symbol] = []
    skipped: list[SymbolIssue] = []
    bars: S3Pointer | None = None
    next_session: date | None = None
    quality: S3Pointer | None = None  # the run's DataQualityReport (JSON)
    warnings: int = 0  # warnings in that report (symbols kept, worth a look)


# --- OptimizeStrategy (one Map iteration per symbol) -------------------------------------------------


class OptimizeEvent(Contract):
    run_id: RunId
    as_of: date
    symbol: Symbol
    strategy: StrategyName
    bars: S3Pointer


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


# --- GenerateSignals -----------------------------------------------------------------------------------


class SignalsEvent(Contract):
    run_id: RunId
    as_of: date
    bars: S3Pointer
    optimized: list[OptimizeResult] = Field(min_length=1)


class Signal(Contract):
    symbol: Symbol
    strategy: StrategyName
    params: dict[str, float]
    target_weight: float = Field(ge=-1.0, le=1.0)  # fraction of the per-position allocation; 0 = flat
    reason: str
    close: float = Field(gt=0)
    bar_date: date


class SignalsResult(Contract):
    run_id: RunId
    as_of: date
    signals: list[Signal]


# --- PaperTrade ----------------------------------------------------------------------------------------


class PaperTradeEvent(Contract):
    run_id: RunId
    as_of: date
    synthetic: bool
    signals: list[Signal]


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
    limit_price: float | None = Field(default=None, gt=0)  # LIMIT only: the worst acceptable price
    time_in_force: Literal["DAY"] = "DAY"  # valid for the first session after as_of; cancelled at its close
    reference_price: float = Field(gt=0)  # the close the order was sized on (not a fill price)
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
    run_id: RunId
    as_of: date
    orders: list[Order]
    sent: int
    already_recorded: int = 0  # orders of this day that a previous attempt already recorded
    already_decided: bool = False  # an earlier run decided this session: its orders, nothing new placed
    notes: list[str] = []  # why a signal produced no order (risk limits, cash, minimum order value)


# --- fills ---------------------------------------------------------------------------------------------


class Fill(Contract):
    order_id: str
    symbol: Symbol
    side: Side
    quantity: int = Field(gt=0)
    price: float = Field(gt=0)
    commission: float = Field(ge=0)
    session: date  # the session whose open it filled at
