"""GenerateSignals: each batch's parameters + bars -> a target weight per symbol at the close, with the
reason and the scores that rank it; one SignalsDocument per run.

Symbols whose optimization failed (reported by their batch, or in a batch with no result at all: its
Map item failed) get no signal; more of them than ``tolerated_failure_percentage`` of the manifest fails
the run with :class:`~tradebot.errors.OptimizationError`, before anything is traded.

An unadjusted split inside a history never silently drives a decision: a symbol the run's quality report
warns about (``possible_split``: a one-day close move above 40%) gets no signal; it is listed in the
document's ``withheld`` with the warning (PaperTrade then leaves a held position of it alone, marked at
its last recorded close). The report's split events (the source's, e.g. yfinance's) are passed on in the
document's ``splits``.

Each signal carries the closes of the :data:`RECENT_BARS` bars before its own, as today's data has them
(``recent_closes``): PaperTrade compares them with the closes it recorded on those sessions to see a
split (or another restatement of the history) of a symbol it holds.
"""

from __future__ import annotations

import math

import pandas as pd

from tradebot.contracts import (
    DataQualityReport,
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

RECENT_BARS = 5  # closes before the signal's bar it carries: a split is seen after up to 4 missed sessions
WITHHOLDING_WARNINGS = frozenset({"possible_split"})

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
    quality = objects.get_model(event.quality, DataQualityReport) if event.quality is not None else None
    withhold = withheld_symbols(quality)
    signals: list[Signal] = []
    failed: list[SymbolIssue] = []
    withheld: list[SymbolIssue] = []
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
        for opt in result.results:
            if opt.symbol in withhold:
                withheld.append(withhold[opt.symbol])
            else:
                signals.append(signal_for(rt.bars_for(batch.bars, opt.symbol), opt))
    check_tolerance(failed, sum(len(b.symbols) for b in manifest), event.tolerated_failure_percentage)
    document = SignalsDocument(
        run_id=event.run_id,
        as_of=event.as_of,
        signals=signals,
        failed=failed,
        withheld=withheld,
        splits=quality.splits if quality else [],
    )
    pointer = objects.put_model(runs.signals_key(event.as_of, event.run_id), document, compress=True)
    return SignalsResult(
        run_id=event.run_id,
        as_of=event.as_of,
        signals=pointer,
        count=len(signals),
        long=sum(1 for s in signals if s.target_weight > 0),
        failed=len(failed),
        withheld=len(withheld),
    )


# --- the step's rules, pure (tradebot simulate runs them too) ------------------------------------------


def withheld_symbols(quality: DataQualityReport | None) -> dict[str, SymbolIssue]:
    """The symbols whose signal is withheld (a ``possible_split`` warning), each with why."""
    return {
        w.symbol: SymbolIssue(
            symbol=w.symbol,
            reason=w.reason,
            detail=f"signal withheld, not traded ({w.detail}); a held position is left alone",
        )
        for w in (quality.warnings if quality else [])
        if w.reason in WITHHOLDING_WARNINGS
    }


def check_tolerance(failed: list[SymbolIssue], total: int, tolerated_percentage: float) -> None:
    """OptimizationError when more than ``tolerated_percentage`` of ``total`` symbols failed."""
    if total and 100 * len(failed) / total > tolerated_percentage:
        examples = "; ".join(f"{f.symbol}: {f.detail}" for f in failed[:5])
        raise OptimizationError(
            f"{len(failed)} of {total} symbols could not be optimized ({100 * len(failed) / total:.1f}% > "
            f"the tolerated {tolerated_percentage:g}%): {examples}"
        )


def signal_for(bars: pd.DataFrame, opt: OptimizeResult) -> Signal:
    """The signal at the last bar's close with the optimized parameters, with the reason and scores."""
    weight, reason = latest_signal(bars, opt.strategy, opt.params)
    before = bars["Close"].iloc[-RECENT_BARS - 1 : -1]
    return Signal(
        symbol=opt.symbol,
        strategy=opt.strategy,
        params=opt.params,
        target_weight=weight,
        reason=reason,
        close=float(bars["Close"].iloc[-1]),
        bar_date=bars.index[-1].date(),
        recent_closes={ts.date(): float(c) for ts, c in before.items()},
        out_of_sample_score=_score(opt.out_of_sample, opt.objective),
        in_sample_score=_score(opt.in_sample, opt.objective),
    )


def _score(scores: Scores | None, objective: str | None) -> float | None:
    """The value of the objective the parameters were chosen for (Sharpe when it was not recorded)."""
    if scores is None:
        return None
    value = getattr(scores, _SCORE_FIELD.get(objective or "sharpe", "sharpe"))
    return float(value) if value is not None and math.isfinite(value) else None
