"""Synthetic universes for scale tests and benchmarks: N Yahoo-format CSVs of generated daily bars.

Every directory written here carries tradebot.data.csv_source's SYNTHETIC marker, so a run on it is
labelled synthetic. The bars are a geometric random walk per symbol (a shared market factor plus its own
noise and drift), one bar per NYSE session, consistent OHLC, deterministic for a given seed. This is not
the sample source's richer model (tradebot.data.sample): it is built to write thousands of symbols fast.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from tradebot.calendar import get_calendar
from tradebot.data.csv_source import mark_synthetic, write_yahoo_csv


def universe_symbols(n: int) -> list[str]:
    """``U0000``, ``U0001``, ...: visibly made-up tickers."""
    return [f"U{i:04d}" for i in range(n)]


def write_synthetic_universe(directory: Path, n: int, start: date, end: date, seed: int = 7) -> list[str]:
    """Write ``n`` symbols' bars for the NYSE sessions in [start, end] to ``directory`` (created); their
    symbols. Raises ValueError for an empty range."""
    sessions = pd.DatetimeIndex(pd.to_datetime(get_calendar().sessions(start, end)), name="Date")
    if len(sessions) < 2:
        raise ValueError(f"no NYSE sessions between {start} and {end}")
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    days = len(sessions)
    market = rng.normal(0.0003, 0.010, days)
    symbols = universe_symbols(n)
    for symbol in symbols:
        beta, vol, drift = rng.uniform(0.5, 1.5), rng.uniform(0.008, 0.02), rng.normal(0.0, 0.0006)
        returns = drift + beta * market + rng.normal(0.0, vol, days)
        close = np.round(rng.uniform(20, 200) * np.exp(np.cumsum(returns)), 2)
        previous = np.concatenate(([close[0]], close[:-1]))
        open_ = np.round(previous * np.exp(rng.normal(0.0, vol / 3, days)), 2)
        high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, vol / 2, days))), 2)
        low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, vol / 2, days))), 2)
        volume = np.round(rng.uniform(1e5, 5e6) * np.exp(rng.normal(0.0, 0.3, days)))
        frame = pd.DataFrame(
            {
                "Open": open_,
                "High": np.maximum.reduce([high, open_, close]),
                "Low": np.maximum(np.minimum.reduce([low, open_, close]), 0.01),
                "Close": close,
                "Adj Close": close,
                "Volume": volume,
            },
            index=sessions,
        )
        write_yahoo_csv(frame, directory / f"{symbol}.csv")
    mark_synthetic(directory, f"tradebot_local.universe (seed {seed})")
    return symbols
