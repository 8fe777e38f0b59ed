"""Whole-share, cash-account backtest of one parameter set (the reference the team cross-checks with
backtesting.py).

Semantics:

* Signals and the position state as in :mod:`tradebot.strategy.engine`: decided at bar t's close, filled
  at bar t+1's open; a decision on the last bar has no fill; nothing at bar t reads later data.
* Entry "all in": the largest whole number of shares the cash affords at the fill price including
  commission, ``floor(cash / (open * (1 + commission)))``. If that is 0 the entry is skipped (and the
  following exit does nothing).
* Commission is a fraction of traded value, charged at entry (``size * price * commission``) and at exit.
* Equity is ``cash + shares * Close`` at every bar's close (a fill at bar t's open is in bar t's equity).
* A trade still open after the last bar stays open: it is listed with ``exit_time=None``, marked at the
  last close, its pnl net of the entry commission only.
* Statistics use :mod:`tradebot.strategy.metrics` on the daily equity curve; ``n_trades`` counts entries
  (an open trade included), ``win_rate_pct`` is over closed trades.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy.base import Strategy, StrategyParams
from tradebot.strategy.engine import check_commission, holdings, position_states
from tradebot.strategy.metrics import max_drawdown_pct, sharpe
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy


@dataclass(frozen=True)
class Trade:
    entry_time: pd.Timestamp
    exit_time: pd.Timestamp | None  # None: still open after the last bar
    entry_price: float
    exit_price: float  # the exit fill, or the last close for an open trade
    size: int
    pnl: float  # net of commissions
    return_pct: float  # pnl relative to the entry cost (shares * entry price + entry commission)
    commission: float

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    params: dict[str, float]
    equity: pd.Series  # indexed by the bars' dates
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
    cash: float = 10_000,
    commission: float = 0.0,
) -> BacktestResult:
    """Backtest ``strategy`` with ``params`` (None: its defaults) on ``bars``.

    Raises InputValidationError for an unknown strategy, bad params, cash or commission, and
    DataQualityError for unusable bars or fewer than ``min_bars(params)`` bars.
    """
    strat = get_strategy(strategy)
    p = strat.parse_params(params)
    c = check_commission(commission)
    try:
        start_cash = float(cash)
    except (TypeError, ValueError):
        start_cash = math.nan
    if not (math.isfinite(start_cash) and start_cash > 0):
        raise InputValidationError(f"cash must be a positive number, got {cash!r}")
    prices = to_prices(bars)
    check_length(strat, p, prices, "a backtest")
    n = len(prices)
    enter, exit_ = strat.signals(prices, p)
    long, _ = position_states(enter, exit_, 0, n - 1)  # the last bar's decision has no fill
    held = holdings(long, 0, n)
    fills = np.flatnonzero(held[1:] != held[:-1]) + 1

    o, cl, idx = prices.open, prices.close, prices.index
    cash_at = np.empty(n)
    shares_at = np.zeros(n, dtype=np.int64)
    trades: list[Trade] = []
    balance, shares, last = start_cash, 0, 0
    entry: tuple[int, float, float] | None = None  # bar, price, commission
    paid = 0.0
    for t in fills.tolist():
        cash_at[last:t], shares_at[last:t] = balance, shares
        last = t
        price = float(o[t])
        if held[t]:
            size = math.floor(balance / (price * (1.0 + c)))
            while size > 0 and size * price * (1.0 + c) > balance:
                size -= 1  # guard against rounding in the division
            if size > 0:
                fee = size * price * c
                balance -= size * price + fee
                shares, entry, paid = size, (t, price, fee), paid + fee
        elif shares > 0 and entry is not None:
            fee = shares * price * c
            balance += shares * price - fee
            paid += fee
            trades.append(_trade(idx, entry, t, price, shares, fee))
            shares, entry = 0, None
    cash_at[last:], shares_at[last:] = balance, shares
    if shares > 0 and entry is not None:
        trades.append(_trade(idx, entry, None, float(cl[-1]), shares, 0.0))

    equity_values = cash_at + shares_at * cl
    equity = pd.Series(equity_values, index=idx.copy(), name="Equity")
    closed = [tr for tr in trades if not tr.is_open]
    stats: dict[str, Any] = {
        "start": prices.date(0),
        "end": prices.date(n - 1),
        "n_bars": n,
        "cash": start_cash,
        "commission": c,
        "final_equity": float(equity_values[-1]),
        "total_return_pct": float((equity_values[-1] / start_cash - 1.0) * 100.0),
        "buy_and_hold_return_pct": float((cl[-1] / cl[0] - 1.0) * 100.0),
        "n_trades": len(trades),
        "n_closed_trades": len(closed),
        "win_rate_pct": (100.0 * sum(tr.pnl > 0 for tr in closed) / len(closed)) if closed else None,
        "exposure_pct": float(100.0 * np.count_nonzero(shares_at) / n),
        "sharpe": sharpe(equity_values[1:] / equity_values[:-1] - 1.0),
        "max_drawdown_pct": max_drawdown_pct(equity_values),
        "commission_paid": paid,
        "open_position": shares,
    }
    return BacktestResult(strategy=strat.name, params=p.as_dict(), equity=equity, trades=trades, stats=stats)


def _trade(
    idx: pd.DatetimeIndex,
    entry: tuple[int, float, float],
    t_exit: int | None,
    price: float,
    size: int,
    fee: float,
) -> Trade:
    t_entry, entry_price, entry_fee = entry
    commission = entry_fee + fee
    pnl = size * (price - entry_price) - commission
    cost = size * entry_price + entry_fee
    return Trade(
        entry_time=pd.Timestamp(idx[t_entry]),
        exit_time=None if t_exit is None else pd.Timestamp(idx[t_exit]),
        entry_price=entry_price,
        exit_price=price,
        size=size,
        pnl=pnl,
        return_pct=100.0 * pnl / cost,
        commission=commission,
    )
