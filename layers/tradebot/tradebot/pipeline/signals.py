"""GenerateSignals: each batch's parameters + bars -> a target weight per symbol at the close, with the
reason and the scores that rank it; one SignalsDocument per run.

Symbols whose optimization failed (reported by their batch, or in a batch with no result at all: its
Map item failed) get no signal; more of them than ``tolerated_failure_percentage`` of the manifest fails
the run with :class:`~tradebot.errors.OptimizationError`, before anything is traded.
"""

from __future__ import annotations

import math

from tradebot.contracts import (
    OptimizeBatch,
    OptimizeBatchResult,
    OptimizeResult,
    S3Pointer,
    Scores,
    Signal,
    SignalsDocument,
    SignalsEvent,
    SignalsResult,
    SymbolIssue,
)
from tradebot.errors import OptimizationError
from tradebot.pipeline.runtime import Runtime
from tradebot.store import runs
from tradebot.strategy import latest_signal

# the objective a parameter set was chosen for -> its field in Scores
_SCORE_FIELD = {
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "total_return": "total_return_pct",
}


def generate_signals(event: SignalsEvent, rt: Runtime) -> SignalsResult:
    """Every optimized symbol's signal at the ``as_of`` close, written as the run's SignalsDocument."""
    objects = runs.RunObjects(rt.s3, rt.settings.data_bucket)
    manifest = objects.get_manifest(event.manifest)
    signals: list[Signal] = []
    failed: list[SymbolIssue] = []
    for batch in manifest:
        key = runs.batch_result_key(event.as_of, event.run_id, batch.batch)
        result = objects.find_model(S3Pointer(bucket=objects.bucket, key=key), OptimizeBatchResult)
        if result is None:
            failed += [
                SymbolIssue(
                    symbol=s, reason="optimization_failed", detail=f"batch {batch.batch} has no result"
                )
                for s in batch.symbols
            ]
            continue
        failed += result.failed
        signals += _batch_signals(rt, batch, result.results)
    total = sum(len(b.symbols) for b in manifest)
    if total and 100 * len(failed) / total > event.tolerated_failure_percentage:
        examples = "; ".join(f"{f.symbol}: {f.detail}" for f in failed[:5])
        raise OptimizationError(
            f"{len(failed)} of {total} symbols could not be optimized ({100 * len(failed) / total:.1f}% > "
            f"the tolerated {event.tolerated_failure_percentage:g}%): {examples}"
        )
    document = SignalsDocument(run_id=event.run_id, as_of=event.as_of, signals=signals, failed=failed)
    pointer = objects.put_model(runs.signals_key(event.as_of, event.run_id), document, compress=True)
    return SignalsResult(
        run_id=event.run_id,
        as_of=event.as_of,
        signals=pointer,
        count=len(signals),
        long=sum(1 for s in signals if s.target_weight > 0),
        failed=len(failed),
    )


def _batch_signals(rt: Runtime, batch: OptimizeBatch, results: list[OptimizeResult]) -> list[Signal]:
    signals = []
    for opt in results:
        bars = rt.bars_for(batch.bars, opt.symbol)
        weight, reason = latest_signal(bars, opt.strategy, opt.params)
        signals.append(
            Signal(
                symbol=opt.symbol,
                strategy=opt.strategy,
                params=opt.params,
                target_weight=weight,
                reason=reason,
                close=float(bars["Close"].iloc[-1]),
                bar_date=bars.index[-1].date(),
                out_of_sample_score=_score(opt.out_of_sample, opt.objective),
                in_sample_score=_score(opt.in_sample, opt.objective),
            )
        )
    return signals


def _score(scores: Scores | None, objective: str | None) -> float | None:
    """The value of the objective the parameters were chosen for (Sharpe when it was not recorded)."""
    if scores is None:
        return None
    value = getattr(scores, _SCORE_FIELD.get(objective or "sharpe", "sharpe"))
    return float(value) if value is not None and math.isfinite(value) else None
