"""The live decision: the target weight after the last bar's close, with a human reason.

Uses the same signals and position state as the backtests (:mod:`tradebot.strategy.simulate`), from the
first bar up to and including the last one (whose decision is the order for the next session's open).
Only data up to the last bar is read.
"""

from __future__ import annotations

import pandas as pd

from tradebot.strategy.backtest import check_length
from tradebot.strategy.base import PositionState, StrategyParams
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy
from tradebot.strategy.simulate import target_states


def latest_signal(
    bars: pd.DataFrame | Prices,
    strategy: str,
    params: dict[str, float] | StrategyParams | None,
    *,
    long_short: bool = False,
    adjust: str = "none",
) -> tuple[float, str]:
    """``(target_weight, reason)`` at the last bar's close: 1.0 long, 0.0 flat, -1.0 short (only with
    ``long_short``, where an exit signal reverses to short).

    Raises InputValidationError for an unknown strategy or bad params, DataQualityError for unusable bars
    or fewer than ``min_bars(params)`` bars.
    """
    strat = get_strategy(strategy)
    p = strat.parse_params(params)
    prices = to_prices(bars, adjust)
    check_length(strat, p, prices, "a signal")
    enter, exit_ = strat.signals(prices, p)
    state, since = target_states(enter, exit_, long_short=long_short)
    t = len(prices) - 1
    position = PositionState(long=bool(state[t] > 0), since=int(since[t]) if since[t] >= 0 else None)
    reason = strat.explain(prices, p, t, position)
    if state[t] < 0:
        reason += " (long/short: short)"
    return float(state[t]), reason
