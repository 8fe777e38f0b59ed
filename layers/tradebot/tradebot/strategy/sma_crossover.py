"""SMA crossover: long when SMA(fast) of Close crosses above SMA(slow), flat when it crosses below.

SMA(n) is pandas ``rolling(n).mean()`` of Close (what backtesting.py's examples use), so values, and
therefore crossovers and exact ties on flat stretches, are identical to theirs. Semantics shared with the
EMA crossover: :mod:`tradebot.strategy.crossover`.
"""

from __future__ import annotations

from tradebot.strategy.base import FloatArray
from tradebot.strategy.crossover import CrossoverParams, MovingAverageCrossover
from tradebot.strategy.prices import Prices
from tradebot.strategy.registry import register


class SmaCrossoverParams(CrossoverParams):
    pass


@register
class SmaCrossover(MovingAverageCrossover[SmaCrossoverParams]):
    name = "sma_crossover"
    params_type = SmaCrossoverParams
    description = "long when SMA(fast) crosses above SMA(slow), flat when it crosses below"
    label = "SMA"

    @property
    def default_params(self) -> SmaCrossoverParams:
        return SmaCrossoverParams(fast=10, slow=30)

    def average(self, prices: Prices, window: int) -> FloatArray:
        return prices.sma(window)
