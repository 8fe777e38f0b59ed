"""OptimizeStrategy (one Distributed Map item: a batch of symbols): fresh parameters are reused, stale ones
re-optimized by walk-forward; the batch's results go to one S3 object, the parameters to DynamoDB.

A symbol whose optimization fails is reported with its reason and the rest of the batch goes on (the
next step decides whether the run can trade with what failed). What retrying can fix (throttling, an
AWS error) fails the whole invocation, which the state machine retries.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from tradebot.contracts import (
    OptimizeBatchResult,
    OptimizeEvent,
    OptimizeResult,
    OptimizeSummary,
    Scores,
    SymbolIssue,
    WalkForwardFold,
)
from tradebot.errors import RetryableError
from tradebot.pipeline.runtime import Runtime
from tradebot.store import runs
from tradebot.strategy import FillModel, optimize
from tradebot.strategy.optimizer import max_folds
from tradebot.trading.config import RiskLimits

WALK_FORWARD_FOLDS = 3  # fewer when the history is short (each test window >= 20 bars)


def optimize_strategy(event: OptimizeEvent, rt: Runtime) -> OptimizeSummary:
    """Reuse parameters younger than PARAMS_MAX_AGE_DAYS (and not from the future); re-optimize the
    others; write the batch's :class:`OptimizeBatchResult`."""
    batch = event.batch
    stored = rt.params.get_many(batch.symbols, event.strategy)
    fill = optimizer_fill(rt.config.load().risk)
    results: list[OptimizeResult] = []
    fresh: list[OptimizeResult] = []
    failed: list[SymbolIssue] = []
    for symbol in batch.symbols:
        previous = stored.get(symbol)
        if previous is not None and is_fresh(previous, event.as_of, rt.settings.params_max_age_days):
            results.append(reused(previous))
            continue
        try:
            result = optimized(rt.bars_for(batch.bars, symbol), symbol, event.strategy, event.as_of, fill)
        except (RetryableError, ClientError, BotoCoreError):
            raise  # the whole batch is retried by the state machine
        except Exception as exc:  # one symbol's failure does not sink the batch: reported with its reason
            failed.append(optimization_failure(symbol, exc))
            continue
        results.append(result)
        fresh.append(result)
    rt.params.put_many(fresh)
    key = runs.batch_result_key(event.as_of, event.run_id, batch.batch)
    document = OptimizeBatchResult(
        run_id=event.run_id,
        as_of=event.as_of,
        strategy=event.strategy,
        batch=batch.batch,
        results=results,
        failed=failed,
    )
    pointer = runs.RunObjects(rt.s3, rt.settings.data_bucket).put_model(key, document)
    return OptimizeSummary(
        batch=batch.batch,
        optimized=len(results),
        reoptimized=len(fresh),
        evaluated=sum(r.evaluated for r in results),
        failed=len(failed),
        result=pointer,
    )


# --- the step's rules, pure (tradebot simulate runs them too) ------------------------------------------


def is_fresh(stored: OptimizeResult, as_of: date, max_age_days: int) -> bool:
    """Parameters optimized at most ``max_age_days`` calendar days before ``as_of`` (and not after it) are
    reused."""
    return 0 <= (as_of - stored.optimized_on).days <= max_age_days


def reused(stored: OptimizeResult) -> OptimizeResult:
    return stored.model_copy(update={"reoptimized": False, "evaluated": 0})


def optimizer_fill(risk: RiskLimits) -> FillModel:
    """Walk-forward costs as the paper broker charges them; fractional sizing (the scores do not depend on
    the account's size)."""
    return FillModel(fractional=True, commission=risk.commission_rate, slippage_bps=risk.slippage_bps)


def optimization_failure(symbol: str, exc: Exception) -> SymbolIssue:
    return SymbolIssue(symbol=symbol, reason="optimization_failed", detail=f"{type(exc).__name__}: {exc}")


def optimized(bars: pd.DataFrame, symbol: str, strategy: str, as_of: date, fill: FillModel) -> OptimizeResult:
    """Walk-forward over ``bars`` (WALK_FORWARD_FOLDS folds, fewer when the history is short)."""
    outcome = optimize(bars, strategy, fill=fill, folds=max_folds(len(bars), WALK_FORWARD_FOLDS))
    return OptimizeResult(
        symbol=symbol,
        strategy=strategy,
        params=dict(outcome.params),
        in_sample=Scores(**outcome.in_sample),
        out_of_sample=Scores(**outcome.out_of_sample) if outcome.out_of_sample else None,
        optimized_on=as_of,
        reoptimized=True,
        evaluated=outcome.evaluated,
        objective=outcome.objective,
        walk_forward=[WalkForwardFold.model_validate(asdict(f)) for f in outcome.folds]
        if len(outcome.folds) > 1
        else [],
    )
