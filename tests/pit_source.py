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


# --- the replay scenario: 62 sessions, 5 symbols, a split, a crash that trips the daily loss limit -------

SCENARIO_START, SCENARIO_END = date(2024, 1, 2), date(2024, 4, 1)  # 62 NYSE sessions
SPLIT_SYMBOL, SPLIT_EX_DATE, SPLIT_RATIO = "S0", date(2024, 2, 15), 4.0
CRASH_SYMBOL, CRASH_SESSION, CRASH_FACTOR = "CRSH", date(2024, 3, 22), 0.70


def as_traded_after_split(frame: pd.DataFrame, ex_date: date, ratio: float) -> pd.DataFrame:
    """``frame`` (continuous prices) as traded around a split: from ``ex_date`` on, prices / ``ratio``."""
    out = frame.copy()
    on = out.index >= pd.Timestamp(ex_date)
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        out.loc[on, column] = out.loc[on, column] / ratio
    out.loc[on, "Volume"] = out.loc[on, "Volume"] * ratio
    return out


def crashed(frame: pd.DataFrame, session: date, factor: float) -> pd.DataFrame:
    """``frame`` with every price from ``session``'s close on times ``factor`` (it opens as before)."""
    out = frame.copy()
    day = pd.Timestamp(session)
    before_close = float(out["Close"].shift(1).loc[day])
    on = out.index >= day
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        out.loc[on, column] = out.loc[on, column] * factor
    out.loc[day, "Open"] = before_close
    out.loc[day, "High"] = max(before_close, float(out.loc[day, "Close"])) * 1.001
    return out


def replay_scenario() -> PointInTimeSource:
    """Five trending symbols (SYNTHETIC) from 2022 (history for the walk-forward) to mid-2024: ``S0``
    splits 4:1 on SPLIT_EX_DATE (restated point-in-time, as Yahoo does), ``CRSH`` closes 30% lower on
    CRASH_SESSION, which takes a fully invested account past the default 5% daily loss limit."""
    first, last = date(2022, 1, 3), date(2024, 6, 28)
    frames = {f"S{i}": trending_bars(i, first, last) for i in range(4)}
    frames[SPLIT_SYMBOL] = as_traded_after_split(frames[SPLIT_SYMBOL], SPLIT_EX_DATE, SPLIT_RATIO)
    frames[CRASH_SYMBOL] = crashed(trending_bars(9, first, last), CRASH_SESSION, CRASH_FACTOR)
    return PointInTimeSource(frames, splits={SPLIT_SYMBOL: (SPLIT_EX_DATE, SPLIT_RATIO)})
