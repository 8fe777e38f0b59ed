"""Time-series momentum (a trend filter): long while the return over the last ``lookback`` bars is above
``+band``, flat once it falls below ``-band``.

``momentum(lookback)[t] = Close[t] / Close[t - lookback] - 1`` (:mod:`tradebot.strategy.indicators`).
``band`` (a fraction, e.g. 0.02) is a dead zone against flip-flopping around 0; with ``band=0`` it is the
classic sign rule. Levels, not crosses. ``min_bars = lookback + 2``.

This is the smallest complete example of a strategy: typed parameters, a default grid, one-set signals
and the grid-at-once version grouped by window.
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


class TsMomentumParams(StrategyParams):
    lookback: int = Field(ge=1, le=5_000, description="momentum lookback (bars)")
    band: float = Field(default=0.0, ge=0, lt=1, description="enter above +band, exit below -band")


def _momentum(prices: Prices, lookback: int) -> FloatArray:
    return prices.indicator("momentum", lookback, indicators.momentum)


@register
class TsMomentum(Strategy[TsMomentumParams]):
    name = "ts_momentum"
    params_type = TsMomentumParams
    description = "long while the lookback return > +band, flat once it is < -band"

    @property
    def default_params(self) -> TsMomentumParams:
        return TsMomentumParams(lookback=126, band=0.0)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """lookback 10..260 step 10 x band 0, 0.01, ..., 0.05: 156 sets."""
        return {"lookback": [float(v) for v in range(10, 261, 10)], "band": [i / 100 for i in range(6)]}

    def min_bars(self, params: TsMomentumParams) -> int:
        return params.lookback + 2

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return table["lookback"].astype(np.intp) + 2

    def signals(self, prices: Prices, params: TsMomentumParams) -> tuple[BoolArray, BoolArray]:
        mom = _momentum(prices, params.lookback)
        with np.errstate(invalid="ignore"):
            return mom > params.band, mom < -params.band

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        for lookback, rows in grouped_rows(table, "lookback", block_rows):
            mom = _momentum(prices, lookback)[start:stop]
            band = column(table, "band", rows)
            yield level_block(rows, start, mom > band, mom < -band)

    def explain(self, prices: Prices, params: TsMomentumParams, t: int, state: PositionState) -> str:
        mom = float(_momentum(prices, params.lookback)[t])
        if math.isnan(mom):
            return f"momentum({params.lookback}) still warming up: flat"
        head = f"{params.lookback}-bar return {mom:+.2%} (band {params.band:g})"
        if state.since is None:
            return f"{head}: flat, no entry yet"
        side = "long" if state.long else "flat"
        return f"{head}: {side} since {prices.date(state.since)}"
