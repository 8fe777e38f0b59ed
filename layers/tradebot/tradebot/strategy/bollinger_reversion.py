"""Bollinger-band reversion: long when Close falls below the lower band ``SMA(window) - k * std(window)``,
flat when it closes back above the middle band ``SMA(window)``.

Uses the z-score ``(Close - SMA) / std`` of :mod:`tradebot.strategy.indicators` (population deviation,
0 on a flat window): ``enter`` when z < -k, ``exit`` when z > 0. Levels, not crosses. ``min_bars =
window + 1`` (first band at bar window - 1, its fill at the next open).
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
    column,
    grouped_rows,
    level_block,
)
from tradebot.strategy.prices import Prices
from tradebot.strategy.registry import register


class BollingerReversionParams(StrategyParams):
    window: int = Field(ge=2, le=5_000, description="band window (bars)")
    k: float = Field(gt=0, le=10, description="lower band at k standard deviations below the mean")


def _z(prices: Prices, window: int) -> FloatArray:
    return prices.indicator("bollinger_z", window, indicators.bollinger_z)


@register
class BollingerReversion(Strategy[BollingerReversionParams]):
    name = "bollinger_reversion"
    params_type = BollingerReversionParams
    description = "long below SMA - k*std, flat above SMA"

    @property
    def default_params(self) -> BollingerReversionParams:
        return BollingerReversionParams(window=20, k=2.0)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """window 10..100 step 5 x k 1.0..3.0 step 0.25: 171 sets."""
        return {"window": [float(w) for w in range(10, 101, 5)], "k": [1.0 + 0.25 * i for i in range(9)]}

    def min_bars(self, params: BollingerReversionParams) -> int:
        return params.window + 1

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return table["window"].astype(np.intp) + 1

    def signals(self, prices: Prices, params: BollingerReversionParams) -> tuple[BoolArray, BoolArray]:
        z = _z(prices, params.window)
        with np.errstate(invalid="ignore"):
            return z < -params.k, z > 0

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        for window, rows in grouped_rows(table, "window", block_rows):
            z = _z(prices, window)[start:stop]
            with np.errstate(invalid="ignore"):
                enter = z < -column(table, "k", rows)
                exit_ = np.broadcast_to(z > 0, enter.shape)
            yield level_block(rows, start, enter, exit_)

    def explain(self, prices: Prices, params: BollingerReversionParams, t: int, state: PositionState) -> str:
        z = float(_z(prices, params.window)[t])
        if math.isnan(z):
            return f"Bollinger({params.window}) still warming up: flat"
        head = f"Close at {z:+.2f} std of SMA({params.window}) (enter < -{params.k:g}, exit > 0)"
        if state.since is None:
            return f"{head}: flat, no entry yet"
        side = "long" if state.long else "flat"
        return f"{head}: {side} since {prices.date(state.since)}"
