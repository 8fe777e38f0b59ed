"""The paper account's values: positions, the portfolio, a session's decision, halts and splits.

Pure values (pydantic, immutable); :mod:`tradebot.store.accounts` stores them in the state table.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Literal

from pydantic import Field

from tradebot.contracts import Contract, Order, S3Pointer, Symbol


class Position(Contract):
    symbol: Symbol
    quantity: int  # shares held (the paper account is long-only: >= 0)
    avg_price: float  # volume-weighted average buy price, commission excluded; unchanged by sells


class Portfolio(Contract):
    account: str
    cash: float
    positions: dict[str, Position] = Field(default_factory=dict)

    def equity(self, prices: dict[str, float]) -> float:
        """Cash plus positions marked at ``prices`` (falling back to their average price)."""
        return self.cash + sum(p.quantity * prices.get(s, p.avg_price) for s, p in self.positions.items())


class Book(Contract):
    """An account's cash, positions and pending orders at one moment (a decision records the book it
    started from: `tradebot reconcile` starts research there)."""

    cash: float
    positions: dict[str, Position] = Field(default_factory=dict)
    pending: list[str] = Field(default_factory=list)  # ids of the orders that could still fill

    @classmethod
    def of(cls, portfolio: Portfolio, pending: list[Order]) -> Book:
        return cls(
            cash=portfolio.cash, positions=dict(portfolio.positions), pending=[o.order_id for o in pending]
        )


class Candidate(Contract):
    """A symbol that wanted a position, in the decision's ranking (tradebot.trading.sizing)."""

    symbol: Symbol
    rank: int = Field(ge=1)  # 1 = first served
    held: bool  # held (or being bought) before this decision: keeps its priority
    out_of_sample_score: float | None = None
    in_sample_score: float | None = None
    selected: bool  # ranked within max_positions
    quantity: int = Field(default=0, ge=0)  # shares this decision buys
    reason: str = ""  # why it was left out or its buy cut ("" when nothing stood in its way)


class SplitRecord(Contract):
    """A split applied to the account, once (tradebot.trading.corporate_actions; stored by
    tradebot.store.accounts): its ratio and ex-date, how it was found, and what it did to the position,
    the cash and the pending orders."""

    account: str
    symbol: Symbol
    ex_date: date  # the first session in the new units (for a detected split: the latest possible one)
    new_shares: int = Field(gt=0)  # the ratio is new_shares:old_shares (4:1 forward, 1:10 reverse)
    old_shares: int = Field(gt=0)
    reference_session: date  # the session whose close showed it
    known_close: float = Field(gt=0)  # that close as the account recorded it (old units)
    restated_close: float = Field(gt=0)  # the same close in the data now (new units)
    source: Literal["event", "detected"]  # the source's split event, or a restated history
    shares_before: int = Field(ge=0)
    shares_after: int = Field(ge=0)
    avg_price_before: float = Field(ge=0)
    avg_price_after: float = Field(ge=0)
    cash_in_lieu: float = Field(ge=0)  # the fraction of a share, paid at the restated close
    orders_adjusted: list[str] = Field(default_factory=list)  # pending orders, quantity x ratio
    orders_cancelled: list[str] = Field(default_factory=list)  # pending orders left with < 1 share
    applied_by: str  # "PaperTrade (run ...)" or "executor (order ...)"
    created_at: datetime

    @property
    def fraction(self) -> Fraction:
        """New shares per old share."""
        return Fraction(self.new_shares, self.old_shares)

    @property
    def ratio_text(self) -> str:
        return f"{self.new_shares}:{self.old_shares}"

    def summary(self) -> dict[str, object]:
        """What the run report and `tradebot portfolio` show of it."""
        return {
            "symbol": self.symbol,
            "ex_date": self.ex_date.isoformat(),
            "ratio": self.ratio_text,
            "source": self.source,
            "reference_session": self.reference_session.isoformat(),
            "known_close": self.known_close,
            "restated_close": self.restated_close,
            "shares_before": self.shares_before,
            "shares_after": self.shares_after,
            "avg_price_before": self.avg_price_before,
            "avg_price_after": self.avg_price_after,
            "cash_in_lieu": self.cash_in_lieu,
            "orders_adjusted": list(self.orders_adjusted),
            "orders_cancelled": list(self.orders_cancelled),
            "applied_by": self.applied_by,
        }


class Decision(Contract):
    """What PaperTrade decided for one account and session (written once: a re-run replays it).

    Its size is bounded by the account, not the universe: orders (max_orders_per_run), closes of the
    symbols held, pending or ordered, notes about those; the full ranking is in ``detail``."""

    account: str
    as_of: date
    run_id: str
    equity: float  # cash + positions marked at ``closes`` (average price where no close is known)
    closes: dict[str, float]  # closes of this session (held, pending or ordered symbols traded on it)
    orders: list[Order]
    notes: list[str] = Field(default_factory=list)
    candidates: int = 0  # symbols that wanted a position
    detail: S3Pointer | None = None  # the DecisionDetail: every candidate's rank and outcome
    created_at: datetime
    # held symbols without a usable close of this session (stopped, signal withheld, not in the universe):
    # the price they were marked at, their last recorded close (never a close of this session)
    marks: dict[str, float] = Field(default_factory=dict)
    # splits that took effect since the previous decision, on symbols held or pending (applied once)
    corporate_actions: list[SplitRecord] = Field(default_factory=list)
    # the account as this decision found it, before anything it did (corporate actions included); None
    # on decisions stored before it was recorded
    book: Book | None = None


class DecisionDetail(Contract):
    """Every candidate of a decision, ranked, with why each was left out (one S3 object per decision)."""

    account: str
    as_of: date
    run_id: str
    candidates: list[Candidate]
    notes: list[str] = Field(default_factory=list)


class Halt(Contract):
    """Trading halted for an account until an operator clears it (the daily loss limit sets it)."""

    account: str
    reason: str
    as_of: date
    created_at: datetime


class SymbolHalt(Contract):
    """Trading of one symbol stopped for an account until an operator clears it (an unexplained
    restatement of its history sets it): no order of it is placed or filled."""

    account: str
    symbol: Symbol
    reason: str
    as_of: date
    mark: float | None = None  # the close it is marked at while stopped (its last recorded one)
    created_at: datetime
