"""Test doubles for market data: consistent bars on NYSE sessions, CSV directories, and Yahoo faked at
yfinance's network boundary (``yfinance.multi.Ticker``), so the real ``yfinance.download`` assembles
frames exactly as it does in production. Nothing here touches the network or sleeps."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.multi
from yfinance.exceptions import YFRateLimitError

from tradebot.calendar import get_calendar
from tradebot.data import LoadResult, slice_bars
from tradebot.data import yfinance_source as yfs
from tradebot.data.csv_source import write_yahoo_csv

FIXTURES = Path(__file__).parent / "fixtures"
SPY_CSV = FIXTURES / "SPY.csv"  # REAL SPY daily bars 2015-01-02..2024-04-19 (see tests/fixtures/README.md)


def spy_lines() -> list[str]:
    """The real SPY fixture's lines (header first), without line endings: to build modified files."""
    return SPY_CSV.read_text(encoding="utf-8").splitlines()


def write_spy(directory: Path, lines: Sequence[str], name: str = "SPY.csv") -> Path:
    """Write ``lines`` (e.g. a modified copy of :func:`spy_lines`) as ``directory/name``; returns the dir."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def spy_until(last: str, first: str = "") -> list[str]:
    """The fixture's header and rows dated ``first <= date <= last`` (ISO strings)."""
    header, *rows = spy_lines()
    return [header, *(r for r in rows if first <= r[:10] <= last)]


def session_bars(end: date, n: int = 120, *, start_price: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """``n`` consistent daily bars (bars convention) on the ``n`` NYSE sessions ending at ``end``."""
    days = get_calendar().sessions(end - timedelta(days=2 * n + 10), end)[-n:]
    rng = np.random.default_rng(seed)
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0.0005, 0.012, len(days)))), 2)
    open_ = np.round(close * np.exp(rng.normal(0, 0.004, len(days))), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, len(days)))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, len(days)))), 2)
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").as_unit("us")
    return pd.DataFrame(
        {
            "Open": open_,
            "High": high,
            "Low": low,
            "Close": close,
            "Adj Close": close,
            "Volume": np.round(rng.uniform(1e6, 5e6, len(days))),
        },
        index=index,
    )


def write_csv_dir(directory: Path, frames: dict[str, pd.DataFrame]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for symbol, frame in frames.items():
        write_yahoo_csv(frame, directory / f"{symbol}.csv")
    return directory


class FakeSource:
    """A BarSource over fixed frames that records every load (symbols, start, end)."""

    name = "fake"
    synthetic = False
    live = True

    def __init__(self, frames: dict[str, pd.DataFrame], fail: set[str] | None = None) -> None:
        self.frames = dict(frames)
        self.fail = fail or set()
        self.calls: list[tuple[list[str], date | None, date]] = []

    def default_symbols(self) -> list[str] | None:
        return sorted(self.frames)

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        self.calls.append((list(symbols), start, end))
        result = LoadResult()
        for symbol in symbols:
            if symbol in self.fail:
                result.failures[symbol] = "download failed: ConnectionError: reset"
                continue
            frame = slice_bars(self.frames[symbol], start, end) if symbol in self.frames else None
            if frame is None or frame.empty:
                result.failures[symbol] = "no data"
            else:
                result.frames[symbol] = frame
        return result


class FakeYahoo:
    """Stands in for Yahoo behind ``yfinance.Ticker(t).history(...)``: answers from ``frames`` with a
    tz-aware America/New_York index (as Yahoo does); the first ``rate_limited`` history calls raise
    YFRateLimitError (yfinance logs it; tradebot re-raises it); the next ``network_failures`` calls raise
    a connection reset (yfinance logs it and returns an empty column)."""

    def __init__(
        self, frames: dict[str, pd.DataFrame], rate_limited: int = 0, network_failures: int = 0
    ) -> None:
        self.frames = frames
        self.rate_limited = rate_limited
        self.network_failures = network_failures
        self.history_calls: list[tuple[str, dict[str, Any]]] = []
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def ticker(self, symbol: str) -> Any:
        fake = self

        class Ticker:
            def __init__(self) -> None:
                self.ticker = symbol
                self._price_history = None

            def history(self, **kwargs: Any) -> pd.DataFrame:
                with fake._lock:
                    fake.history_calls.append((symbol, kwargs))
                    limited = len(fake.history_calls) <= fake.rate_limited
                    reset = (
                        not limited and len(fake.history_calls) <= fake.rate_limited + fake.network_failures
                    )
                if limited:
                    raise YFRateLimitError()
                if reset:
                    raise ConnectionError("connection reset by peer")
                frame = fake.frames.get(symbol.upper())
                if frame is None:
                    return yfinance.utils.empty_df()
                start, end = kwargs.get("start"), kwargs.get("end")
                if start is not None:
                    frame = frame.loc[frame.index >= pd.Timestamp(start)]
                if end is not None:
                    frame = frame.loc[frame.index < pd.Timestamp(end)]  # Yahoo's end is exclusive
                out = frame.copy()
                out.index = out.index.tz_localize("America/New_York")
                return out

        return Ticker()

    def downloads(self) -> list[tuple[str, str | None]]:
        """(symbol, start) of each history call."""
        return [(s, kw.get("start")) for s, kw in self.history_calls]


def install_fake_yahoo(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    frames: dict[str, pd.DataFrame],
    rate_limited: int = 0,
    network_failures: int = 0,
) -> FakeYahoo:
    fake = FakeYahoo(frames, rate_limited, network_failures)
    monkeypatch.setattr(yfinance.multi, "Ticker", fake.ticker)
    monkeypatch.setattr(yfs, "pause", fake.sleeps.append)  # backoff sleeps are recorded, not slept
    monkeypatch.setattr(yfs, "_tz_cache_dir", str(tmp_path))  # yfinance's cache is never configured
    return fake
