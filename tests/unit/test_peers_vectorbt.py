"""Peer agreement with vectorbt (a dev dependency, never in the layer): with the same fill model its
equity curve equals ours, bar by bar.

vectorbt is configured with our semantics: signals decided at bar t's close are passed shifted to bar t+1
and filled at that bar's Open (``price=Open``); ``fees`` is our commission fraction, ``slippage`` our
bps / 10,000 on both sides; ``size=inf`` is all in (``size_granularity=1``: whole shares) and
``size=f, size_type="percent"`` a fraction of equity; ``direction="both"`` is our long/short reversal.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG

from tests.unit.test_strategy_support import make_bars
from tradebot.strategy import FillModel, backtest, get_strategy, to_prices

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import vectorbt as vbt


def vectorbt_equity(bars: pd.DataFrame, strategy: str, params: dict[str, float], fill: FillModel) -> Any:
    strat = get_strategy(strategy)
    enter, exit_ = strat.signals(to_prices(bars), strat.parse_params(params))
    entries = pd.Series(enter, index=bars.index).shift(1, fill_value=False)
    exits = pd.Series(exit_, index=bars.index).shift(1, fill_value=False)
    kwargs: dict[str, Any] = (
        {"size": np.inf} if fill.sizing == "all_in" else {"size": fill.fraction, "size_type": "percent"}
    )
    if not fill.fractional:
        kwargs["size_granularity"] = 1
    if fill.long_short:
        kwargs["direction"] = "both"
    pf = vbt.Portfolio.from_signals(
        bars["Close"],
        entries,
        exits,
        price=bars["Open"],
        fees=fill.commission,
        slippage=fill.slippage,
        init_cash=fill.cash,
        freq="1D",
        **kwargs,
    )
    return pf.value().to_numpy(), int(pf.trades.count())


FILLS = [
    FillModel(commission=0.002),
    FillModel(commission=0.001, slippage_bps=10),
    FillModel(commission=0.002, slippage_bps=5, fractional=True),
    FillModel(commission=0.001, sizing="fixed_fraction", fraction=0.5),
    FillModel(commission=0.001, sizing="fixed_fraction", fraction=0.3, fractional=True),
    FillModel(commission=0.002, long_short=True),
    FillModel(commission=0.001, slippage_bps=5, fractional=True, long_short=True),
]


@pytest.mark.parametrize("fill", FILLS, ids=lambda f: f.describe())
def test_goog_sma_equity_curve_equals_vectorbt(fill: FillModel) -> None:
    bars = GOOG.assign(**{"Adj Close": GOOG["Close"]})
    theirs, n_trades = vectorbt_equity(bars, "sma_crossover", {"fast": 10, "slow": 20}, fill)
    mine = backtest(bars, "sma_crossover", {"fast": 10, "slow": 20}, fill=fill)
    assert len(mine.trades) == n_trades >= 40
    np.testing.assert_allclose(mine.equity.to_numpy(), theirs, rtol=1e-9)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_crossover", {"fast": 5, "slow": 20}),
        ("ema_crossover", {"fast": 8, "slow": 30}),
        ("rsi_reversion", {"period": 6, "lower": 30, "upper": 65}),
        ("bollinger_reversion", {"window": 20, "k": 1.5}),
        ("donchian_breakout", {"entry": 20, "exit": 10}),
        ("ts_momentum", {"lookback": 40, "band": 0.01}),
    ],
)
@pytest.mark.parametrize("fill", [FILLS[0], FILLS[2], FILLS[4], FILLS[5]], ids=lambda f: f.describe())
def test_synthetic_equity_curves_equal_vectorbt(
    strategy: str, params: dict[str, float], fill: FillModel
) -> None:
    bars = make_bars(800, seed=31, vol=0.02)
    theirs, n_trades = vectorbt_equity(bars, strategy, params, fill)
    mine = backtest(bars, strategy, params, fill=fill)
    assert len(mine.trades) == n_trades >= 3
    np.testing.assert_allclose(mine.equity.to_numpy(), theirs, rtol=1e-9)
