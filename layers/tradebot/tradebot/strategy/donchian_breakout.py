"""Donchian breakout (turtle style): long when Close breaks above the highest High of the previous
``entry`` bars, flat when it breaks below the lowest Low of the previous ``exit`` bars.

The channels exclude the current bar (:mod:`tradebot.strategy.indicators`), so a close can break out of
them; both signals cannot hold on one bar (the previous bar is in both channels and its High >= Low).
``min_bars = max(entry, exit) + 2`` (first channel at bar max(entry, exit), its fill at the next open).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from tradebot.strategy import indicators
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
    level_block,
)
from tradebot.strategy.prices import Prices
from tradebot.strategy.registry import register

MAX_WINDOW = 5_000


class DonchianBreakoutParams(StrategyParams):
    entry: int = Field(ge=1, le=MAX_WINDOW, description="breakout channel (bars)")
    exit: int = Field(ge=1, le=MAX_WINDOW, description="exit channel (bars)")


def _high(prices: Prices, n: int) -> FloatArray:
    return prices.indicator("donchian_high", n, indicators.donchian_high)


def _low(prices: Prices, n: int) -> FloatArray:
    return prices.indicator("donchian_low", n, indicators.donchian_low)


@register
class DonchianBreakout(Strategy[DonchianBreakoutParams]):
    name = "donchian_breakout"
    params_type = DonchianBreakoutParams
    description = "long above the entry-bar high channel, flat below the exit-bar low channel"

    @property
    def default_params(self) -> DonchianBreakoutParams:
        return DonchianBreakoutParams(entry=20, exit=10)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """entry 10..120 step 5 x exit 5..60 step 5: 276 sets."""
        return {"entry": [float(v) for v in range(10, 121, 5)], "exit": [float(v) for v in range(5, 61, 5)]}

    def min_bars(self, params: DonchianBreakoutParams) -> int:
        return max(params.entry, params.exit) + 2

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return np.maximum(table["entry"], table["exit"]).astype(np.intp) + 2

    def signals(self, prices: Prices, params: DonchianBreakoutParams) -> tuple[BoolArray, BoolArray]:
        with np.errstate(invalid="ignore"):
            return prices.close > _high(prices, params.entry), prices.close < _low(prices, params.exit)

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        close = prices.close[start:stop]
        exits = table["exit"].astype(np.intp)
        # NaN (a channel still warming up) compares False: no signal
        below = {int(w): close < _low(prices, int(w))[start:stop] for w in np.unique(exits)}
        for entry, rows in grouped_rows(table, "entry", block_rows):
            up = close > _high(prices, entry)[start:stop]
            exit_ = np.stack([below[int(w)] for w in exits[rows]])
            yield level_block(rows, start, np.broadcast_to(up, exit_.shape), exit_)

    def explain(self, prices: Prices, params: DonchianBreakoutParams, t: int, state: PositionState) -> str:
        hi, lo = float(_high(prices, params.entry)[t]), float(_low(prices, params.exit)[t])
        if math.isnan(hi) or math.isnan(lo):
            return f"Donchian({params.entry}/{params.exit}) still warming up: flat"
        head = (
            f"Close={prices.close[t]:.2f}, {params.entry}-bar high={hi:.2f}, {params.exit}-bar low={lo:.2f}"
        )
        if state.since is None:
            return f"{head}: flat, no breakout yet"
        side = "long" if state.long else "flat"
        return f"{head}: {side} since {prices.date(state.since)}"
