"""OptimizeStrategy (one Map iteration per symbol): fresh parameters are reused, stale ones re-optimized."""

from __future__ import annotations

from dataclasses import asdict

from tradebot.contracts import OptimizeEvent, OptimizeResult, Scores, WalkForwardFold
from tradebot.pipeline.runtime import Runtime
from tradebot.strategy import FillModel, optimize
from tradebot.strategy.optimizer import max_folds

WALK_FORWARD_FOLDS = 3  # fewer when the history is short (each test window >= 20 bars)


def optimize_strategy(event: OptimizeEvent, rt: Runtime) -> OptimizeResult:
    """Reuse parameters younger than PARAMS_MAX_AGE_DAYS (and not from the future); else re-optimize."""
    stored = rt.params.get(event.symbol, event.strategy)
    if stored is not None:
        age = (event.as_of - stored.optimized_on).days
        if 0 <= age <= rt.settings.params_max_age_days:
            return stored.model_copy(update={"reoptimized": False, "evaluated": 0})
    # walk-forward over the run's history, costs as the paper broker charges them (fractional sizing:
    # the scores do not depend on the account's size)
    bars = rt.bars_for(event.bars, event.symbol)
    risk = rt.config.load().risk
    fill = FillModel(fractional=True, commission=risk.commission_rate, slippage_bps=risk.slippage_bps)
    outcome = optimize(bars, event.strategy, fill=fill, folds=max_folds(len(bars), WALK_FORWARD_FOLDS))
    result = OptimizeResult(
        symbol=event.symbol,
        strategy=event.strategy,
        params=dict(outcome.params),
        in_sample=Scores(**outcome.in_sample),
        out_of_sample=Scores(**outcome.out_of_sample) if outcome.out_of_sample else None,
        optimized_on=event.as_of,
        reoptimized=True,
        evaluated=outcome.evaluated,
        objective=outcome.objective,
        walk_forward=[WalkForwardFold.model_validate(asdict(f)) for f in outcome.folds]
        if len(outcome.folds) > 1
        else [],
    )
    rt.params.put(result)
    return result
