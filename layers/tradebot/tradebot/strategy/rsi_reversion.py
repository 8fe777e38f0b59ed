"""RSI mean reversion: long when RSI(period) falls below ``lower`` (oversold), flat when it rises above
``upper`` (overbought).

RSI is Wilder's (:mod:`tradebot.strategy.indicators`), defined from bar ``period``. Levels, not crosses:
every bar with RSI < lower is an ``enter`` signal and every bar with RSI > upper an ``exit`` signal, so
the position is long from the first oversold close until the next overbought one. ``min_bars = period +
2`` (first RSI at bar period, its fill at the next open).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

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


class RsiReversionParams(StrategyParams):
    period: int = Field(ge=2, le=1_000, description="RSI period (bars)")
    lower: float = Field(gt=0, lt=100, description="enter below this RSI")
    upper: float = Field(gt=0, lt=100, description="exit above this RSI")

    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("lower", "upper"),)


def _rsi(prices: Prices, period: int) -> FloatArray:
    return prices.indicator("rsi", period, indicators.rsi)


@register
class RsiReversion(Strategy[RsiReversionParams]):
    name = "rsi_reversion"
    params_type = RsiReversionParams
    description = "long when RSI(period) < lower, flat when RSI(period) > upper"

    @property
    def default_params(self) -> RsiReversionParams:
        return RsiReversionParams(period=14, lower=30, upper=70)

    @property
    def default_grid(self) -> dict[str, list[float]]:
        """period 2..30 step 2 x lower 10..40 step 5 x upper 55..90 step 5: 840 sets."""
        return {
            "period": [float(p) for p in range(2, 31, 2)],
            "lower": [float(v) for v in range(10, 41, 5)],
            "upper": [float(v) for v in range(55, 91, 5)],
        }

    def min_bars(self, params: RsiReversionParams) -> int:
        return params.period + 2

    def min_bars_many(self, table: ParamTable) -> IntArray:
        return table["period"].astype(np.intp) + 2

    def signals(self, prices: Prices, params: RsiReversionParams) -> tuple[BoolArray, BoolArray]:
        rsi = _rsi(prices, params.period)
        with np.errstate(invalid="ignore"):
            return rsi < params.lower, rsi > params.upper

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 512
    ) -> Iterator[SignalBlock]:
        for period, rows in grouped_rows(table, "period", block_rows):
            rsi = _rsi(prices, period)[start:stop]
            with np.errstate(invalid="ignore"):
                enter = rsi < column(table, "lower", rows)
                exit_ = rsi > column(table, "upper", rows)
            yield level_block(rows, start, enter, exit_)

    def explain(self, prices: Prices, params: RsiReversionParams, t: int, state: PositionState) -> str:
        value = float(_rsi(prices, params.period)[t])
        if math.isnan(value):
            return f"RSI({params.period}) still warming up: flat"
        head = f"RSI({params.period})={value:.1f} (enter < {params.lower:g}, exit > {params.upper:g})"
        if state.since is None:
            return f"{head}: flat, not oversold yet"
        side = "long" if state.long else "flat"
        return f"{head}: {side} since {prices.date(state.since)}"
