"""An account's history over a range of sessions, as `tradebot simulate` and `tradebot replay` report it,
and how two such histories are compared order for order.

A history is every order decided in the range (its id, session, symbol, side, quantity, status), every
fill (the order's id, the session decided on, the session it filled at, price, commission) and the
account at each session's close: cash, and equity = cash + every position marked at that session's close
(a position whose symbol has no bar that day: at its last close before it). The account at a session's
close has the fills of the orders decided on the sessions before it (they fill at the next session's
open) and not yet the fills of that session's own orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from tradebot.strategy.metrics import drawdown_duration, equity_scores, returns_of

R = TypeVar("R")
K = TypeVar("K", str, date, tuple[str, date])  # the keys rows are paired by

PRICE_RELATIVE_TOLERANCE = 1e-9  # fill prices: equal to 1e-9 relative
CENT = 0.005  # commissions, cash and equity: equal to the cent (less than half a cent apart)


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    as_of: date  # the session decided on
    symbol: str
    side: str
    quantity: int
    status: str
    reason: str = ""


@dataclass(frozen=True)
class FillRow:
    order_id: str
    as_of: date  # the session the order was decided on
    session: date  # the session whose open it filled at
    symbol: str
    side: str
    quantity: int
    price: float
    commission: float


@dataclass(frozen=True)
class SplitRow:
    """A split applied to the account (tradebot.trading.account.SplitRecord)."""

    symbol: str
    ex_date: date
    ratio: str  # "4:1": new shares per old
    shares_before: int
    shares_after: int
    cash_in_lieu: float


@dataclass(frozen=True)
class SessionRow:
    date: date
    equity: float
    cash: float
    status: str = "DECIDED"  # DECIDED | FAILED (the run failed: halted, a data error, ...)
    note: str = ""  # why it failed


@dataclass
class AccountHistory:
    """What the bot did over ``sessions`` (see the module doc)."""

    initial_capital: float
    sessions: list[SessionRow] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    fills: list[FillRow] = field(default_factory=list)
    splits: list[SplitRow] = field(default_factory=list)
    source: str = ""
    synthetic: bool = False

    def stats(self) -> dict[str, Any]:
        """The backtest's statistics of the account's equity at each session's close (formulas:
        tradebot.strategy.metrics), with ``initial_capital`` as the start."""
        equity = np.array([self.initial_capital, *(s.equity for s in self.sessions)], dtype=np.float64)
        days = float((self.sessions[-1].date - self.sessions[0].date).days) if self.sessions else 0.0
        exposed = sum(1 for s in self.sessions if not math.isclose(s.equity, s.cash))
        scores = equity_scores(equity, len(self.fills), days=days, exposure_bars=exposed)
        # the share of session closes with a position (the start, initial_capital, is not a session)
        scores["exposure_pct"] = 100.0 * exposed / len(self.sessions) if self.sessions else 0.0
        r = returns_of(equity)
        dd_bars, _, _ = drawdown_duration(equity)
        return {
            "start": self.sessions[0].date.isoformat() if self.sessions else None,
            "end": self.sessions[-1].date.isoformat() if self.sessions else None,
            "sessions": len(self.sessions),
            "initial_capital": self.initial_capital,
            "final_equity": float(equity[-1]),
            "equity_peak": float(equity.max()),
            "commission_paid": float(sum(f.commission for f in self.fills)),
            **scores,
            "volatility_ann_pct": float(np.std(r, ddof=1) * math.sqrt(252) * 100.0) if len(r) > 1 else 0.0,
            "max_drawdown_duration_sessions": dd_bars,
            "failed_sessions": sum(1 for s in self.sessions if s.status != "DECIDED"),
        }

    def to_json(self) -> dict[str, Any]:
        def row(value: Any) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(value).items()}

        return {
            "source": self.source,
            "synthetic": self.synthetic,
            "sessions": len(self.sessions),
            "orders": [row(o) for o in self.orders],
            "fills": [row(f) for f in self.fills],
            "splits": [row(s) for s in self.splits],
            "equity": [row(s) for s in self.sessions],
            "stats": self.stats(),
        }


@dataclass(frozen=True)
class Difference:
    """The first place two histories disagree."""

    session: date
    symbol: str | None
    cause: str

    def __str__(self) -> str:
        where = f"{self.session}" + (f" {self.symbol}" if self.symbol else "")
        return f"{where}: {self.cause}"


def first_difference(
    simulated: AccountHistory, replayed: AccountHistory, names: tuple[str, str] = ("simulate", "replay")
) -> Difference | None:
    """The earliest session where the two disagree (orders, fills, splits applied, cash or equity), or
    None. Orders: the same ids, sides, quantities and final statuses; fill prices equal to
    PRICE_RELATIVE_TOLERANCE relative; commissions, cash and equity at every close to the cent.
    ``names``: what the two are called in a difference's cause."""
    found = differences(simulated, replayed, names)
    return found[0] if found else None


def differences(
    a: AccountHistory, b: AccountHistory, names: tuple[str, str] = ("simulate", "replay")
) -> list[Difference]:
    """Every difference between ``a`` and ``b`` (see :func:`first_difference`), earliest first."""
    found: list[Difference] = []
    found += _orders_differ(a.orders, b.orders, names)
    found += _fills_differ(a.fills, b.fills, names)
    found += _splits_differ(a.splits, b.splits, names)
    found += _sessions_differ(a.sessions, b.sessions, names)
    return sorted(found, key=lambda d: (d.session, d.symbol or ""))


def _orders_differ(a: Sequence[OrderRow], b: Sequence[OrderRow], names: tuple[str, str]) -> list[Difference]:
    an, bn = names
    out = []
    for oid, x, y in _paired(a, b, lambda o: o.order_id):
        if x is None or y is None:
            o = x or y
            assert o is not None
            which = an if x is not None else bn
            out.append(Difference(o.as_of, o.symbol, f"order {oid} ({o.side} {o.quantity}) only in {which}"))
        elif (x.side, x.quantity, x.status) != (y.side, y.quantity, y.status):
            cause = (
                f"order {oid}: {an} {x.side} {x.quantity} {x.status} ({x.reason}), "
                f"{bn} {y.side} {y.quantity} {y.status} ({y.reason})"
            )
            out.append(Difference(x.as_of, x.symbol, cause))
    return out


def _fills_differ(a: Sequence[FillRow], b: Sequence[FillRow], names: tuple[str, str]) -> list[Difference]:
    an, bn = names
    out = []
    for oid, x, y in _paired(a, b, lambda f: f.order_id):
        if x is None or y is None:
            f = x or y
            assert f is not None
            which = an if x is not None else bn
            out.append(Difference(f.session, f.symbol, f"fill of order {oid} only in {which}"))
        elif (x.session, x.quantity) != (y.session, y.quantity) or not _close(x.price, y.price):
            cause = (
                f"fill of order {oid}: {an} {x.quantity} at {x.price!r} on {x.session}, "
                f"{bn} {y.quantity} at {y.price!r} on {y.session}"
            )
            out.append(Difference(x.session, x.symbol, cause))
        elif abs(x.commission - y.commission) >= CENT:
            out.append(
                Difference(
                    x.session,
                    x.symbol,
                    f"commission of order {oid}: {an} {x.commission}, {bn} {y.commission}",
                )
            )
    return out


def _splits_differ(a: Sequence[SplitRow], b: Sequence[SplitRow], names: tuple[str, str]) -> list[Difference]:
    an, bn = names
    out = []
    for key, x, y in _paired(a, b, lambda r: (r.symbol, r.ex_date)):
        if x != y:
            cause = f"split of {key[0]} (ex-date {key[1]}): {an} {x}, {bn} {y}"
            out.append(Difference(key[1], key[0], cause))
    return out


def _sessions_differ(
    a: Sequence[SessionRow], b: Sequence[SessionRow], names: tuple[str, str]
) -> list[Difference]:
    an, bn = names
    out = []
    for day, x, y in _paired(a, b, lambda s: s.date):
        if x is None or y is None:
            out.append(Difference(day, None, f"session only in {an if x is not None else bn}"))
        elif x.status != y.status:
            out.append(Difference(day, None, f"{an} {x.status} ({x.note}), {bn} {y.status} ({y.note})"))
        elif abs(x.cash - y.cash) >= CENT:
            out.append(Difference(day, None, f"cash at the close: {an} {x.cash:,.2f}, {bn} {y.cash:,.2f}"))
        elif abs(x.equity - y.equity) >= CENT:
            out.append(
                Difference(day, None, f"equity at the close: {an} {x.equity:,.2f}, {bn} {y.equity:,.2f}")
            )
    return out


def _paired(a: Sequence[R], b: Sequence[R], key: Callable[[R], K]) -> Iterator[tuple[K, R | None, R | None]]:
    """Each key of either side, in order, with its row on each side (None: not on that side)."""
    by_key_a, by_key_b = {key(r): r for r in a}, {key(r): r for r in b}
    for k in sorted(set(by_key_a) | set(by_key_b)):
        yield k, by_key_a.get(k), by_key_b.get(k)


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=PRICE_RELATIVE_TOLERANCE, abs_tol=0.0)


def write_plot(history: AccountHistory, path: Path, title: str) -> None:
    """Equity over drawdown, as a PNG (matplotlib imported here only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = pd.DatetimeIndex([pd.Timestamp(s.date) for s in history.sessions])
    equity = pd.Series([s.equity for s in history.sessions], index=index)
    drawdown = (equity / equity.cummax().clip(lower=history.initial_capital) - 1.0) * 100.0
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    top.plot(equity.index, equity.to_numpy(), color="tab:blue", linewidth=1.0, label="equity")
    top.axhline(history.initial_capital, color="grey", linewidth=0.6, linestyle=":")
    top.set_title(title + (" (SYNTHETIC data)" if history.synthetic else ""))
    top.set_ylabel("equity [$]")
    top.legend(loc="upper left")
    bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown [%]")
    fig.savefig(path, dpi=110)
    plt.close(fig)
