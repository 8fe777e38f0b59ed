"""A point-in-time bar source for replay tests: generated bars (SYNTHETIC), and a split that the source
restates the way Yahoo does, from its ex-date on: a request for bars up to a day before the ex-date gets
the prices as traded; a request reaching the ex-date gets the earlier prices divided by the ratio.

Installed for both of the bot's paths at once (`tradebot simulate`'s and the pipeline's, whose handlers
and executor run in this process) by replacing ``source_from_spec`` where they look it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradebot.calendar import get_calendar
from tradebot.data import LoadResult

SPEC = "pit:test"


def trending_bars(
    seed: int, start: date, end: date, drift: float = 0.004, vol: float = 0.008
) -> pd.DataFrame:
    """Consistent daily bars on the NYSE sessions in [start, end] (a noisy uptrend)."""
    days = get_calendar().sessions(start, end)
    rng = np.random.default_rng(seed)
    close = np.round(50.0 * np.exp(np.cumsum(drift + rng.normal(0.0, vol, len(days)))), 2)
    open_ = np.round(close * np.exp(rng.normal(0.0, vol / 3, len(days))), 2)
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").as_unit("us")
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.round(np.maximum(open_, close) * 1.004, 2),
            "Low": np.round(np.minimum(open_, close) * 0.996, 2),
            "Close": close,
            "Adj Close": close,
            "Volume": np.full(len(days), 1e6),
        },
        index=index,
    )


@dataclass
class PointInTimeSource:
    """``frames`` are the prices as traded; ``splits`` maps a symbol to (ex-date, new shares per old)."""

    frames: dict[str, pd.DataFrame]
    splits: dict[str, tuple[date, float]] = field(default_factory=dict)
    name: str = SPEC
    synthetic: bool = True
    live: bool = False

    def default_symbols(self) -> list[str] | None:
        return sorted(self.frames)

    def history(self, symbol: str, end: date) -> pd.DataFrame:
        """``symbol``'s bars as the source has them when asked for bars up to ``end``."""
        frame = self.frames[symbol]
        if symbol in self.splits and end >= self.splits[symbol][0]:
            ex_date, ratio = self.splits[symbol]
            before = frame.index < pd.Timestamp(ex_date)
            frame = frame.copy()
            for column in ("Open", "High", "Low", "Close", "Adj Close"):
                frame.loc[before, column] = frame.loc[before, column] / ratio
            frame.loc[before, "Volume"] = frame.loc[before, "Volume"] * ratio
        return frame

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        for symbol in symbols:
            if symbol not in self.frames:
                result.fail(symbol, "unknown symbol")
                continue
            result.place(symbol, self.history(symbol, end), start, end, f"{symbol} (point-in-time test data)")
        return result


def install(monkeypatch: pytest.MonkeyPatch, source: PointInTimeSource) -> None:
    """Make ``SPEC`` name ``source`` for the pipeline's fetch, the local executor, simulate and replay."""
    import tradebot.data as data
    import tradebot.pipeline.fetch as fetch
    import tradebot_local.replay as replay
    import tradebot_local.settle as settle
    import tradebot_local.simulate as simulate

    real = data.source_from_spec

    def source_from_spec(spec: str, **kwargs: object) -> object:
        return source if spec == SPEC else real(spec, **kwargs)  # type: ignore[arg-type]

    for module in (data, fetch, replay, settle, simulate):
        monkeypatch.setattr(module, "source_from_spec", source_from_spec)
