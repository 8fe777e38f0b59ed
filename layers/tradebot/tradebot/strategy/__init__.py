"""Strategies, backtests and parameter search (numpy + pandas only: it ships in the Lambda layer).

Public API::

    get_strategy(name) -> Strategy              # unknown name: InputValidationError listing valid names
    strategy_names() -> list[str]
    backtest(bars, strategy, params, *, fill=FillModel(), adjust="none", **fill_overrides) -> BacktestResult
    optimize(bars, strategy, *, objective="sharpe", train_fraction=0.7, min_trades=2, fill=OPTIMIZER_FILL,
             grid=None, folds=1, anchored=False, adjust="none", top=10) -> OptimizationOutcome
    latest_signal(bars, strategy, params, *, long_short=False) -> (target_weight, reason)
    evaluate_grid(prices, strategy, table, *, start, stop, fill) -> GridScores   # a whole grid at once
    evaluate_params(prices, strategy, params, *, start, stop, fill) -> ScoreDict # one set, bar by bar

Semantics, shared by every entry point (details in each module's docstring):

* signals are decided at a bar's close with data up to that bar and fill at the next bar's open
  (:mod:`.simulate`); a decision on the last bar has no fill in a backtest;
* costs, sizing and direction: :mod:`.fills`; price adjustment: :mod:`.prices`; indicators and
  crossovers (strict on both bars, ties are not crosses): :mod:`.indicators`;
* the grid engine (:mod:`.engine`) gives the same scores as the one-set account (:mod:`.simulate`);
  the metrics and their formulas: :mod:`.metrics`; choosing parameters (walk-forward): :mod:`.optimizer`.

Adding a strategy: one module with a :class:`Strategy` subclass decorated with :func:`register`, listed
in ``registry.BUILTIN_MODULES`` (see :mod:`.base` and, for a small example, :mod:`.ts_momentum`).
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
from tradebot.strategy.engine import GridScores, evaluate_grid, evaluate_params
from tradebot.strategy.fills import FillModel, fill_model
from tradebot.strategy.latest import latest_signal
from tradebot.strategy.metrics import ScoreDict
from tradebot.strategy.optimizer import (
    OBJECTIVES,
    OPTIMIZER_FILL,
    Fold,
    OptimizationOutcome,
    Ranked,
    optimize,
)
from tradebot.strategy.prices import Prices, to_prices
from tradebot.strategy.registry import get_strategy, register, strategy_names

__all__ = [
    "OBJECTIVES",
    "OPTIMIZER_FILL",
    "BacktestResult",
    "FillModel",
    "Fold",
    "GridScores",
    "OptimizationOutcome",
    "ParamTable",
    "PositionState",
    "Prices",
    "Ranked",
    "ScoreDict",
    "SignalBlock",
    "Strategy",
    "StrategyParams",
    "Trade",
    "backtest",
    "evaluate_grid",
    "evaluate_params",
    "expand_grid",
    "fill_model",
    "get_strategy",
    "latest_signal",
    "optimize",
    "register",
    "strategy_names",
    "to_prices",
]
