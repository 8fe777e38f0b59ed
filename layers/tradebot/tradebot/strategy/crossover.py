"""Moving-average crossover, the shared part of :mod:`.sma_crossover` and :mod:`.ema_crossover`.

* Long when the fast average of Close crosses above the slow one (``enter``), flat (or short, long/short)
  when it crosses below (``exit``). The averages are defined in :mod:`tradebot.strategy.indicators`.
* Crossovers follow :func:`tradebot.strategy.indicators.crossover` (backtesting.py's ``crossover``): a
  cross up at t when ``fast[t-1] < slow[t-1]`` and ``fast[t] > slow[t]``; strict on both bars, so exact
  ties are not crosses, and a path through a tie (below, equal, above) does not cross at all.
* Before the first cross the position is flat, even if fast > slow (the strategy waits for a cross, as
  backtesting.py's SmaCross).
* ``min_bars = slow + 2``: the slow average is first defined at bar slow - 1, the first cross can happen
  at bar slow, and it fills at bar slow + 1's open.

Grids are evaluated by grouping the sets by fast window: each distinct window's average is computed once
(cached on :class:`~tradebot.strategy.prices.Prices`), and the slow averages of a group are compared with
the group's fast average in one array operation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar, TypeVar

import numpy as np
from pydantic import Field

from tradebot.strategy.base import (
    BoolArray,
    FloatArray,
    IntArray,
    ParamTable,
    PositionState,
    SignalBlock,
    Strategy,
    StrategyParams,
    grouped_rows,
)
from tradebot.strategy.indicators import crossover_full
from tradebot.strategy.prices import Prices

MAX_WINDOW = 5_000


class CrossoverParams(StrategyParams):
    fast: int = Field(ge=2, le=MAX_WINDOW, description="fast average window (bars)")
    slow: int = Field(ge=2, le=MAX_WINDOW, description="slow average window (bars)")

    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("fast", "slow"),)


C = TypeVar("C", bound=CrossoverParams)


class MovingAverageCrossover(Strategy[C]):
    """Subclasses set ``label`` ("SMA") and ``average`` (an indicator of :mod:`.indicators`)."""

    label: ClassVar[str]

    def average(self, prices: Prices, window: int) -> FloatArray:
        raise NotImplementedError

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """fast 5, 10, ..., 50 x slow 10, 15, ..., 200; expansion keeps the 345 pairs with fast < slow."""
        return {"fast": [float(f) for f in range(5, 51, 5)], "slow": [float(s) for s in range(10, 201, 5)]}

    def min_bars(self, params: C) -> int:
        return params.slow + 2

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return table["slow"].astype(np.intp) + 2

    def signals(self, prices: Prices, params: C) -> tuple[BoolArray, BoolArray]:
        return crossover_full(self.average(prices, params.fast), self.average(prices, params.slow))

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        slow = table["slow"].astype(np.intp)
        lo = max(start - 1, 0)  # a cross at `start` compares with the bar before it
        if stop - lo < 2 or len(slow) == 0:
            return
        slow_windows = np.unique(slow)
        slow_avg = np.stack([self.average(prices, int(w))[lo:stop] for w in slow_windows])
        for fast, group in grouped_rows(table, "fast", block_rows):
            rows = group[np.argsort(slow[group], kind="stable")]  # slow ascending: often a view below
            fast_avg = self.average(prices, fast)[lo:stop]
            idx = np.searchsorted(slow_windows, slow[rows])
            consecutive = idx[-1] - idx[0] + 1 == len(idx)  # distinct, sorted, consecutive: a view
            slow_block = slow_avg[idx[0] : idx[-1] + 1] if consecutive else slow_avg[idx]
            # a cross is a bar where "above" and "below" both flip (see indicators.crossover)
            above, below = fast_avg > slow_block, fast_avg < slow_block
            signal = (above[:, :-1] ^ above[:, 1:]) & (below[:, :-1] ^ below[:, 1:])
            yield SignalBlock(rows=rows, t0=lo + 1, signal=signal, enter=above[:, 1:])

    def explain(self, prices: Prices, params: C, t: int, state: PositionState) -> str:
        f, s = float(self.average(prices, params.fast)[t]), float(self.average(prices, params.slow)[t])
        fast, slow = f"{self.label}({params.fast})", f"{self.label}({params.slow})"
        if math.isnan(f) or math.isnan(s):
            return f"{fast}/{slow} still warming up: flat"
        op = ">" if f > s else "<" if f < s else "="
        head = f"{fast}={f:.2f} {op} {slow}={s:.2f}"
        if state.since is None:
            return f"{head}: flat, no cross up yet"
        if state.long:
            return f"{head}: long since {prices.date(state.since)} cross up"
        return f"{head}: flat since {prices.date(state.since)} cross down"
