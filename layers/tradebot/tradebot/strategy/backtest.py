"""Backtest of one parameter set: trades, the equity curve and the documented statistics.

Semantics (the reference the team cross-checks with backtesting.py and vectorbt):

* Signals and the position state as in :mod:`tradebot.strategy.simulate`: decided at bar t's close,
  filled at bar t+1's open; a decision on the last bar has no fill; nothing at bar t reads later data.
* Prices, costs and sizing as in :mod:`tradebot.strategy.fills` (defaults: cash 10,000, no commission,
  whole shares, all in, long only: backtesting.py's ``self.buy()`` / ``self.position.close()``).
* Equity is ``cash + shares * Close`` at every bar's close (a fill at bar t's open is in bar t's equity);
  :attr:`BacktestResult.cash` and :attr:`BacktestResult.position` are those two parts.
* A trade is a position from its opening fill to its closing fill; ``size`` is signed (< 0 short),
  ``pnl`` is net of both fills' commissions, ``return_pct`` is pnl over the entry cost (shares x entry
  price + entry commission). A trade still open after the last bar has ``exit_time=None``, is marked at
  the last close and its pnl is net of the entry commission only (it is not in the closed-trade stats).
* Statistics: :func:`tradebot.strategy.metrics.performance` (formulas in that module's docstring).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradebot.errors import DataQualityError
from tradebot.strategy.base import Strategy, StrategyParams
from tradebot.strategy.fills import FillModel, fill_model
from tradebot.strategy.metrics import performance
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy
from tradebot.strategy.simulate import SimFill, simulate


@dataclass(frozen=True)
class Trade:
    entry_time: pd.Timestamp
    exit_time: pd.Timestamp | None  # None: still open after the last bar
    entry_price: float  # the fill price (slippage included)
    exit_price: float  # the exit fill price, or the last close for an open trade
    size: float  # shares, signed: < 0 for a short
    pnl: float  # net of commissions
    return_pct: float  # pnl relative to the entry cost (|size| * entry price + entry commission)
    commission: float
    entry_bar: int
    exit_bar: int | None

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    params: dict[str, float]
    fill: FillModel
    equity: pd.Series  # indexed by the bars' dates
    cash: pd.Series
    position: pd.Series  # shares held at each close (signed)
    trades: list[Trade]
    stats: dict[str, Any] = field(default_factory=dict)


def check_length(strategy: Strategy[Any], params: StrategyParams, prices: Prices, what: str) -> None:
    need = strategy.min_bars(params)
    if len(prices) < need:
        args = ", ".join(f"{k}={v:g}" for k, v in params.as_dict().items())
        raise DataQualityError(
            f"{strategy.name}({args}) needs at least {need} bars for {what}, got {len(prices)}"
        )


def backtest(
    bars: pd.DataFrame | Prices,
    strategy: str,
    params: dict[str, float] | StrategyParams | None = None,
    *,
    fill: FillModel | None = None,
    adjust: str = "none",
    **fill_overrides: Any,
) -> BacktestResult:
    """Backtest ``strategy`` with ``params`` (None: its defaults) on ``bars``.

    ``fill`` sets costs and sizing; keyword overrides change single fields of it, e.g.
    ``backtest(bars, "sma_crossover", cash=10_000, commission=0.002)``. ``adjust`` is the price
    adjustment (:mod:`tradebot.strategy.prices`). Raises InputValidationError for an unknown strategy,
    bad params or fill values, and DataQualityError for unusable bars or fewer than ``min_bars(params)``.
    """
    strat = get_strategy(strategy)
    p = strat.parse_params(params)
    model = fill_model(fill, **fill_overrides)
    prices = to_prices(bars, adjust)
    check_length(strat, p, prices, "a backtest")
    enter, exit_ = strat.signals(prices, p)
    sim = simulate(prices, enter, exit_, model)
    trades = _trades(prices, sim.fills)
    idx = prices.index
    equity = pd.Series(sim.equity, index=idx.copy(), name="Equity")
    closed = [tr for tr in trades if not tr.is_open]
    stats: dict[str, Any] = {
        "start": prices.date(0),
        "end": prices.date(len(prices) - 1),
        "n_bars": len(prices),
        "cash": model.cash,
        "commission": model.commission,
        "adjust": prices.adjust,
        "final_equity": float(sim.equity[-1]),
        **performance(
            equity,
            prices.close,
            [tr.pnl for tr in closed],
            [tr.return_pct for tr in closed],
            sim.n_entries,
            int(np.count_nonzero(sim.shares)),
        ),
        "commission_paid": float(sum(f.fee for f in sim.fills)),
        # entry signals with zero whole shares affordable at the next open (their dates)
        "entries_not_taken": [prices.date(t) for t in sim.entries_not_taken],
        "open_position": float(sim.shares[-1]),
        "bust": None if sim.bust is None else prices.date(sim.bust),
    }
    return BacktestResult(
        strategy=strat.name,
        params=p.as_dict(),
        fill=model,
        equity=equity,
        cash=pd.Series(sim.cash, index=idx.copy(), name="Cash"),
        position=pd.Series(sim.shares, index=idx.copy(), name="Position"),
        trades=trades,
        stats=stats,
    )


def _trades(prices: Prices, fills: list[SimFill]) -> list[Trade]:
    """Pair each opening fill with the closing fill that follows it (fills alternate open / close)."""
    trades: list[Trade] = []
    opening: SimFill | None = None
    for f in fills:
        if opening is None:
            opening = f
            continue
        trades.append(_trade(prices, opening, f))
        opening = None
    if opening is not None:
        trades.append(_trade(prices, opening, None))
    return trades


def _trade(prices: Prices, entry: SimFill, exit_: SimFill | None) -> Trade:
    size = entry.shares
    if exit_ is None:
        exit_price, exit_fee, exit_bar = float(prices.close[-1]), 0.0, None
    else:
        exit_price, exit_fee, exit_bar = exit_.price, exit_.fee, exit_.bar
    commission = entry.fee + exit_fee
    pnl = size * (exit_price - entry.price) - commission
    cost = abs(size) * entry.price + entry.fee
    return Trade(
        entry_time=pd.Timestamp(prices.index[entry.bar]),
        exit_time=None if exit_bar is None else pd.Timestamp(prices.index[exit_bar]),
        entry_price=entry.price,
        exit_price=exit_price,
        size=size,
        pnl=pnl,
        return_pct=100.0 * pnl / cost,
        commission=commission,
        entry_bar=entry.bar,
        exit_bar=exit_bar,
    )
