"""EMA crossover: long when EMA(fast) of Close crosses above EMA(slow), flat when it crosses below.

EMA(n) is pandas ``ewm(span=n, adjust=False, min_periods=n).mean()`` of Close (alpha = 2 / (n + 1),
seeded with the first close, NaN for the first n - 1 bars). Semantics shared with the SMA crossover:
:mod:`tradebot.strategy.crossover`.
"""

from __future__ import annotations

from tradebot.strategy import indicators
from tradebot.strategy.base import FloatArray
from tradebot.strategy.crossover import CrossoverParams, MovingAverageCrossover
from tradebot.strategy.prices import Prices
from tradebot.strategy.registry import register


class EmaCrossoverParams(CrossoverParams):
    pass


@register
class EmaCrossover(MovingAverageCrossover[EmaCrossoverParams]):
    name = "ema_crossover"
    params_type = EmaCrossoverParams
    description = "long when EMA(fast) crosses above EMA(slow), flat when it crosses below"
    label = "EMA"

    @property
    def default_params(self) -> EmaCrossoverParams:
        return EmaCrossoverParams(fast=12, slow=26)

    def average(self, prices: Prices, window: int) -> FloatArray:
        return prices.indicator("ema", window, indicators.ema)
