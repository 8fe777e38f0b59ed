"""Deterministic synthetic OHLCV for the visibly fake tickers SYN-A .. SYN-E (offline demo and tests).

Same values on every call and every machine: each series comes from a numpy ``Generator`` (PCG64)
seeded with the first 8 bytes of ``sha256("tradebot.sample:<symbol>")`` (never Python's ``hash()``), and
prices are rounded to cents, so a last-bit difference in ``exp`` between CPUs cannot change a value.

The model, per NYSE session from 2015-01-02 to ``SAMPLE_LAST_SESSION``:

* a shared market factor: GARCH(1,1) volatility clustering with fat-tailed (Student-t, 5 dof) shocks
  and its own bull / bear / flat regimes, so symbols are correlated (pairwise roughly 0.3-0.5);
* per symbol: a beta to the market, idiosyncratic GARCH noise, and a regime chain of up-trends,
  down-trends and mean-reverting ranges (40-250 sessions each);
* OHLC built around the close-to-close return (overnight gap, intraday wicks scaled by the current
  volatility), consistent after rounding (Low <= Open, Close <= High, all >= 0.01); Adj Close == Close;
  integer-valued volume that rises with the size of the move.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pandas as pd

from tradebot.data import STALE, LoadResult
from tradebot.data.bars import slice_bars

SAMPLE_SYMBOLS: tuple[str, ...] = ("SYN-A", "SYN-B", "SYN-C", "SYN-D", "SYN-E")
SAMPLE_FIRST_SESSION = date(2015, 1, 2)
SAMPLE_LAST_SESSION = date(2025, 12, 31)
# The as-of the local demo uses: one session before the last, so the next session's open exists for fills.
SAMPLE_DEFAULT_AS_OF = date(2025, 12, 30)

UNKNOWN_SYMBOL = "unknown symbol: sample data has SYN-A..SYN-E"


@dataclass(frozen=True)
class _Profile:
    start_price: float
    beta: float
    idio_vol: float  # daily
    base_volume: float


def _seed(label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"tradebot.sample:{label}".encode()).digest()[:8], "big")


def _garch(rng: np.random.Generator, n: int, daily_vol: float, alpha: float, beta: float) -> np.ndarray:
    """Shocks with GARCH(1,1) variance (long-run daily vol ``daily_vol``) and Student-t(5) innovations.

    Returns a (2, n) array: the shocks and the conditional volatility of each day."""
    z = rng.standard_t(5, size=n) / math.sqrt(5 / 3)
    omega = daily_vol * daily_vol * (1.0 - alpha - beta)
    out = np.empty((2, n))
    var = daily_vol * daily_vol
    for t in range(n):
        sd = math.sqrt(var)
        e = sd * float(z[t])
        out[0, t] = e
        out[1, t] = sd
        var = omega + alpha * e * e + beta * var
    return out


def _regimes(
    rng: np.random.Generator,
    n: int,
    probs: Sequence[float],
    up: tuple[float, float],
    down: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-day (kind, drift, regime start) for a chain of regimes: 0 up, 1 down, 2 range."""
    kind = np.empty(n, dtype=np.int64)
    drift = np.empty(n)
    begin = np.empty(n, dtype=np.int64)
    t = 0
    previous = -1
    while t < n:
        k = int(rng.choice(3, p=list(probs)))
        if k == previous:  # alternate more often than not: a trend is followed by something else
            k = int(rng.choice(3, p=list(probs)))
        length = int(rng.integers(40, 251))
        mu = rng.uniform(*up) if k == 0 else -rng.uniform(*down) if k == 1 else 0.0
        kind[t : t + length] = k
        drift[t : t + length] = mu
        begin[t : t + length] = t
        previous = k
        t += length
    return kind, drift, begin


@cache
def _sessions() -> pd.DatetimeIndex:
    from tradebot.calendar import get_calendar

    days = get_calendar().sessions(SAMPLE_FIRST_SESSION, SAMPLE_LAST_SESSION)
    return pd.DatetimeIndex(pd.to_datetime(days), name="Date").as_unit("us")


@cache
def _market() -> tuple[np.ndarray, np.ndarray]:
    """(return, volatility) of the shared market factor per session."""
    n = len(_sessions())
    rng = np.random.default_rng(_seed("market"))
    shocks = _garch(rng, n, daily_vol=0.010, alpha=0.09, beta=0.89)
    _, drift, _ = _regimes(rng, n, (0.5, 0.2, 0.3), up=(0.0003, 0.0008), down=(0.0004, 0.0010))
    return shocks[0] + drift, shocks[1]


def _profile(rng: np.random.Generator) -> _Profile:
    return _Profile(
        start_price=float(rng.uniform(20.0, 150.0)),
        beta=float(rng.uniform(0.6, 1.4)),
        idio_vol=float(rng.uniform(0.008, 0.015)),
        base_volume=float(rng.uniform(4e5, 6e6)),
    )


@cache
def _full_series(symbol: str) -> pd.DataFrame:
    index = _sessions()
    n = len(index)
    m_ret, m_vol = _market()
    rng = np.random.default_rng(_seed(symbol))
    p = _profile(rng)
    idio = _garch(rng, n, daily_vol=p.idio_vol, alpha=0.07, beta=0.91)
    kind, drift, begin = _regimes(rng, n, (0.4, 0.25, 0.35), up=(0.0006, 0.0016), down=(0.0006, 0.0016))
    kappa = rng.uniform(0.03, 0.08)

    log_close = np.empty(n)
    level = math.log(p.start_price)
    anchor = level
    for t in range(n):
        if begin[t] == t:
            anchor = level  # a range oscillates around the level it started from
        r = float(drift[t]) + p.beta * float(m_ret[t]) + float(idio[0, t])
        if kind[t] == 2:
            r -= kappa * (level - anchor)
        level += r
        log_close[t] = level

    vol = np.sqrt((p.beta * m_vol) ** 2 + idio[1] ** 2)  # today's volatility
    prev_close = np.concatenate(([math.log(p.start_price)], log_close[:-1]))
    ret = log_close - prev_close
    gap = 0.25 * ret + rng.normal(0.0, 0.3, n) * vol
    log_open = prev_close + gap
    up_wick = np.abs(rng.normal(0.0, 0.5, n)) * vol
    down_wick = np.abs(rng.normal(0.0, 0.5, n)) * vol

    close = np.round(np.exp(log_close), 2)
    open_ = np.round(np.exp(log_open), 2)
    high = np.round(np.exp(np.maximum(log_open, log_close) + up_wick), 2)
    low = np.round(np.exp(np.minimum(log_open, log_close) - down_wick), 2)
    close = np.maximum(close, 0.01)
    open_ = np.maximum(open_, 0.01)
    high = np.maximum.reduce([high, open_, close])
    low = np.maximum(np.minimum.reduce([low, open_, close]), 0.01)
    surprise = np.abs(ret) / vol
    volume = np.round(p.base_volume * np.exp(0.3 * rng.standard_normal(n) + 0.35 * np.minimum(surprise, 6.0)))

    frame = pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Adj Close": close, "Volume": volume},
        index=index,
        dtype=np.float64,
    )
    return frame


class SampleSource:
    """The generated sample: deterministic, offline, visibly synthetic (``synthetic = True``)."""

    name = "sample"
    synthetic = True
    live = False

    def default_symbols(self) -> list[str] | None:
        return list(SAMPLE_SYMBOLS)

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        for symbol in symbols:
            if symbol not in SAMPLE_SYMBOLS:
                result.failures[symbol] = UNKNOWN_SYMBOL
                continue
            full = _full_series(symbol)
            frame = slice_bars(full, start, end)
            if not frame.empty:
                result.frames[symbol] = frame
            elif start is not None and start > SAMPLE_LAST_SESSION:
                result.fail(
                    symbol,
                    f"last bar {SAMPLE_LAST_SESSION}: sample data covers {SAMPLE_FIRST_SESSION}.."
                    f"{SAMPLE_LAST_SESSION}, before the requested range {start}..{end}",
                    STALE,
                )
            else:
                result.fail(
                    symbol, f"no data: sample data covers {SAMPLE_FIRST_SESSION}..{SAMPLE_LAST_SESSION}"
                )
        return result
