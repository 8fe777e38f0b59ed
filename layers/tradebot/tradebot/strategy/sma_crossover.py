"""SMA crossover, long only: long when the fast SMA of Close crosses above the slow one, flat when it
crosses below.

* SMA(n) at bar t is the mean of the last n closes up to and including bar t (pandas
  ``rolling(n).mean()``), undefined for the first n - 1 bars.
* Crossovers follow :mod:`tradebot.strategy.indicators` (backtesting.py's ``crossover``): strict on both
  bars, exact ties are not crosses. A cross up is an ``enter`` signal, a cross down an ``exit`` signal.
* The position after bar t is long when the last cross up to t was up. Before the first cross the
  position is flat, even if fast > slow (the strategy waits for a cross, as backtesting.py's SmaCross).
* ``min_bars = slow + 2``: the slow SMA is first defined at bar slow - 1, the first cross can happen at
  bar slow, and it fills at bar slow + 1's open.

Grids are evaluated by grouping the sets by fast window: each distinct window's SMA is computed once
(cached on :class:`~tradebot.strategy.prices.Prices`), and the slow SMAs of a group are compared with the
group's fast SMA in one array operation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Self

import numpy as np
from pydantic import Field, model_validator

from tradebot.strategy.base import (
    BoolArray,
    IntArray,
    ParamTable,
    PositionState,
    SignalBlock,
    Strategy,
    StrategyParams,
)
from tradebot.strategy.indicators import crossover_full
from tradebot.strategy.prices import Prices
from tradebot.strategy.registry import register

MAX_WINDOW = 5_000


class SmaCrossoverParams(StrategyParams):
    fast: int = Field(ge=2, le=MAX_WINDOW, description="fast SMA window (bars)")
    slow: int = Field(ge=2, le=MAX_WINDOW, description="slow SMA window (bars)")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


@register
class SmaCrossover(Strategy[SmaCrossoverParams]):
    name = "sma_crossover"
    params_type = SmaCrossoverParams
    description = "long when SMA(fast) crosses above SMA(slow), flat when it crosses below"

    @property
    def default_params(self) -> SmaCrossoverParams:
        return SmaCrossoverParams(fast=10, slow=30)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """fast 5, 10, ..., 50 x slow 10, 15, ..., 200 with fast < slow: 345 pairs."""
        return {"fast": [float(f) for f in range(5, 51, 5)], "slow": [float(s) for s in range(10, 201, 5)]}

    def min_bars(self, params: SmaCrossoverParams) -> int:
        return params.slow + 2

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return table["slow"].astype(np.intp) + 2

    def valid_mask(self, table: ParamTable) -> BoolArray:
        fast, slow = table["fast"], table["slow"]
        integral = (fast == np.round(fast)) & (slow == np.round(slow))
        in_range = (fast >= 2) & (slow >= 2) & (fast <= MAX_WINDOW) & (slow <= MAX_WINDOW)
        return np.asarray(integral & in_range & (fast < slow), dtype=bool)

    def signals(self, prices: Prices, params: SmaCrossoverParams) -> tuple[BoolArray, BoolArray]:
        return crossover_full(prices.sma(params.fast), prices.sma(params.slow))

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        fast = table["fast"].astype(np.intp)
        slow = table["slow"].astype(np.intp)
        lo = max(start - 1, 0)  # a cross at `start` compares with the bar before it
        if stop - lo < 2 or len(fast) == 0:
            return
        slow_windows = np.unique(slow)
        slow_sma = np.stack([prices.sma(int(w))[lo:stop] for w in slow_windows])  # (n_windows, bars)
        order = np.lexsort((slow, fast))  # grouped by fast, slow ascending inside a group
        group_starts = np.flatnonzero(np.r_[True, np.diff(fast[order]) != 0])
        group_ends = np.r_[group_starts[1:], len(order)]
        for g0, g1 in zip(group_starts, group_ends, strict=True):
            fast_sma = prices.sma(int(fast[order[g0]]))[lo:stop]
            for c0 in range(g0, g1, block_rows):
                rows = order[c0 : min(c0 + block_rows, g1)]
                idx = np.searchsorted(slow_windows, slow[rows])
                if idx[-1] - idx[0] + 1 == len(idx):  # distinct, sorted, consecutive: a view, no copy
                    slow_block = slow_sma[idx[0] : idx[-1] + 1]
                else:
                    slow_block = slow_sma[idx]
                # a cross is a bar where "above" and "below" both flip (see indicators.crossover)
                above, below = fast_sma > slow_block, fast_sma < slow_block
                signal = (above[:, :-1] ^ above[:, 1:]) & (below[:, :-1] ^ below[:, 1:])
                yield SignalBlock(rows=rows, t0=lo + 1, signal=signal, enter=above[:, 1:])

    def explain(self, prices: Prices, params: SmaCrossoverParams, t: int, state: PositionState) -> str:
        f, s = float(prices.sma(params.fast)[t]), float(prices.sma(params.slow)[t])
        if math.isnan(f) or math.isnan(s):
            return f"SMA({params.fast})/SMA({params.slow}) still warming up: flat"
        op = ">" if f > s else "<" if f < s else "="
        head = f"SMA({params.fast})={f:.2f} {op} SMA({params.slow})={s:.2f}"
        if state.since is None:
            return f"{head}: flat, no cross up yet"
        if state.long:
            return f"{head}: long since {prices.date(state.since)} cross up"
        return f"{head}: flat since {prices.date(state.since)} cross down"
