"""GenerateSignals: latest parameters + latest bars -> a target weight per symbol, with the reason."""

from __future__ import annotations

from tradebot.contracts import Signal, SignalsEvent, SignalsResult
from tradebot.pipeline.runtime import Runtime
from tradebot.strategy import latest_signal


def generate_signals(event: SignalsEvent, rt: Runtime) -> SignalsResult:
    """The target weight per symbol at the ``as_of`` close, with the reason, from the latest parameters."""
    signals = []
    for opt in event.optimized:
        bars = rt.bars_for(event.bars, opt.symbol)
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
            )
        )
    return SignalsResult(run_id=event.run_id, as_of=event.as_of, signals=signals)
