"""The paper account's values: positions, the portfolio, a session's decision and a halt.

Pure values (pydantic, immutable); :mod:`tradebot.store.accounts` stores them in the state table.
"""

from __future__ import annotations

from datetime import date, datetime

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


class Decision(Contract):
    """What PaperTrade decided for one account and session (written once: a re-run replays it).

    Its size is bounded by the account, not the universe: orders (max_orders_per_run), closes of the
    symbols held, pending or ordered, notes about those; the full ranking is in ``detail``."""

    account: str
    as_of: date
    run_id: str
    equity: float  # cash + positions marked at ``closes`` (average price where no close is known)
    closes: dict[str, float]
    orders: list[Order]
    notes: list[str] = Field(default_factory=list)
    candidates: int = 0  # symbols that wanted a position
    detail: S3Pointer | None = None  # the DecisionDetail: every candidate's rank and outcome
    created_at: datetime


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
