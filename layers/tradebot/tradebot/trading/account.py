"""The paper account's values: positions, the portfolio, a session's decision and a halt.

Pure values (pydantic, immutable); :mod:`tradebot.store.accounts` stores them in the state table.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from tradebot.contracts import Contract, Order, Symbol


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


class Decision(Contract):
    """What PaperTrade decided for one account and session (written once: a re-run replays it)."""

    account: str
    as_of: date
    run_id: str
    equity: float  # cash + positions marked at ``closes`` (average price where no close is known)
    closes: dict[str, float]
    orders: list[Order]
    notes: list[str] = Field(default_factory=list)
    created_at: datetime


class Halt(Contract):
    """Trading halted for an account until an operator clears it (the daily loss limit sets it)."""

    account: str
    reason: str
    as_of: date
    created_at: datetime
