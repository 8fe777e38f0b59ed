"""Strategies, backtests and parameter search (numpy + pandas only: it ships in the Lambda layer).

Public API::

    get_strategy(name) -> Strategy              # unknown name: InputValidationError listing valid names
    strategy_names() -> list[str]
    optimize(bars, strategy, *, objective="sharpe", train_fraction=0.7, min_trades=2,
             commission=0.0005, grid=None) -> OptimizationOutcome
    latest_signal(bars, strategy, params) -> (target_weight, reason)
    backtest(bars, strategy, params, *, cash=10_000, commission=0.0) -> BacktestResult

Semantics, shared by every entry point (details in each module's docstring):

* signals are decided at a bar's close with data up to that bar and fill at the next bar's open
  (:mod:`.base`, :mod:`.engine`); a decision on the last bar has no fill in a backtest;
* crossovers are strict on both bars, ties are not crosses (:mod:`.indicators`);
* the whole-share backtest (:mod:`.backtest`) and the fractional model used by the optimizer
  (:mod:`.engine`, :mod:`.optimizer`), and the metrics (:mod:`.metrics`).

Adding a strategy: one module with a :class:`Strategy` subclass decorated with :func:`register`, listed
in ``registry.BUILTIN_MODULES`` (see :mod:`.base` and :mod:`.sma_crossover`).
"""

from tradebot.strategy.backtest import BacktestResult, Trade, backtest
from tradebot.strategy.base import (
    ParamTable,
    PositionState,
    SignalBlock,
    Strategy,
    StrategyParams,
    expand_grid,
)
from tradebot.strategy.engine import GridScores, evaluate_grid, evaluate_params, fractional_equity
from tradebot.strategy.latest import latest_signal
from tradebot.strategy.optimizer import OptimizationOutcome, optimize
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy, register, strategy_names

__all__ = [
    "BacktestResult",
    "GridScores",
    "OptimizationOutcome",
    "ParamTable",
    "PositionState",
    "Prices",
    "SignalBlock",
    "Strategy",
    "StrategyParams",
    "Trade",
    "backtest",
    "evaluate_grid",
    "evaluate_params",
    "expand_grid",
    "fractional_equity",
    "get_strategy",
    "latest_signal",
    "optimize",
    "register",
    "strategy_names",
    "to_prices",
]
