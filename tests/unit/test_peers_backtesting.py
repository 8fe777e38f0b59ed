"""Peer agreement with backtesting.py (a dev dependency, never in the layer).

Configured as our defaults: a long-only SMA crossover that buys on a cross up (``self.buy()``: all in,
whole shares) and closes on a cross down, cash 10,000, commission charged at entry and exit; orders fill
at the next bar's open. The trade lists (entry/exit dates, prices, sizes) must be identical and the final
equity within 0.01% (it is equal to rounding); the equity curve and backtesting.py's Sharpe, annual return,
volatility and max drawdown match ours too. backtesting.py leaves the last trade open unless
``finalize_trades=True``: it is compared as open on both sides.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.lib import crossover
from backtesting.test import GOOG

from tests.unit.test_strategy_support import make_bars
from tradebot.strategy import backtest


class SmaCross(BtStrategy):  # type: ignore[misc]
    n1 = 10
    n2 = 20
    short = False

    def init(self) -> None:
        close = self.data.Close
        self.fast = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n1)
        self.slow = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n2)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            if self.short:
                self.sell()


def run_peer(bars: pd.DataFrame, fast: int, slow: int, commission: float, short: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(
            bars[["Open", "High", "Low", "Close", "Volume"]], SmaCross, cash=10_000, commission=commission
        )
        return bt.run(n1=fast, n2=slow, short=short)


def ours(bars: pd.DataFrame, fast: int, slow: int, commission: float, short: bool = False) -> Any:
    frame = bars if "Adj Close" in bars else bars.assign(**{"Adj Close": bars["Close"]})
    return backtest(
        frame,
        "sma_crossover",
        {"fast": fast, "slow": slow},
        cash=10_000,
        commission=commission,
        long_short=short,
    )


def assert_same(bars: pd.DataFrame, fast: int, slow: int, commission: float, short: bool = False) -> None:
    peer = run_peer(bars, fast, slow, commission, short)
    mine = ours(bars, fast, slow, commission, short)
    theirs = list(
        zip(
            peer._trades.EntryTime,
            peer._trades.ExitTime,
            peer._trades.EntryPrice,
            peer._trades.ExitPrice,
            peer._trades.Size,
            strict=True,
        )
    )
    closed = [
        (t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.size) for t in mine.trades if not t.is_open
    ]
    assert len(closed) >= 5, "too few trades to compare"
    assert closed == theirs
    # the last trade may still be open: backtesting.py keeps it out of _trades but in the equity
    final_peer, final_ours = peer["Equity Final [$]"], mine.stats["final_equity"]
    assert abs(final_ours / final_peer - 1) < 1e-4  # the bar: 0.01%
    np.testing.assert_allclose(mine.equity.to_numpy(), peer._equity_curve["Equity"].to_numpy(), rtol=1e-9)
    stats = mine.stats
    assert stats["sharpe_btpy"] == pytest.approx(peer["Sharpe Ratio"], rel=1e-9)
    assert stats["return_ann_btpy_pct"] == pytest.approx(peer["Return (Ann.) [%]"], rel=1e-9)
    assert stats["volatility_ann_btpy_pct"] == pytest.approx(peer["Volatility (Ann.) [%]"], rel=1e-9)
    assert stats["max_drawdown_pct"] == pytest.approx(peer["Max. Drawdown [%]"], rel=1e-9)
    assert stats["win_rate_pct"] == pytest.approx(peer["Win Rate [%]"])
    assert stats["n_closed_trades"] == peer["# Trades"]


@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (5, 30), (20, 50)])
def test_goog_sma_crossover_matches_backtesting_py(fast: int, slow: int) -> None:
    assert_same(GOOG, fast, slow, commission=0.002)


def test_goog_sma_crossover_10_20_reference_numbers() -> None:
    # backtesting.py's README example (long only here): 46 closed trades and one open at the end
    mine = ours(GOOG, 10, 20, 0.002)
    assert mine.stats["n_closed_trades"] == 46 and mine.trades[-1].is_open
    assert mine.stats["final_equity"] == pytest.approx(
        run_peer(GOOG, 10, 20, 0.002)["Equity Final [$]"], rel=1e-12
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("commission", [0.0, 0.001])
def test_synthetic_sma_crossover_matches_backtesting_py(seed: int, commission: float) -> None:
    bars = make_bars(900, seed=seed, vol=0.02, flat=(300, 330))  # a flat stretch: averages tie exactly
    assert_same(bars, 4, 15, commission)


def test_long_short_reversal_matches_backtesting_py() -> None:
    # backtesting.py's SmaCross with self.position.close(); self.sell() on a cross down
    assert_same(GOOG, 10, 20, 0.002, short=True)
    assert_same(make_bars(700, seed=9, vol=0.02), 5, 20, 0.001, short=True)
