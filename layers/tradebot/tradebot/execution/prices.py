"""Next-open prices from a bar source (tradebot.data): the paper broker's view of the market."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Protocol

from tradebot.clock import Clock
from tradebot.errors import DataQualityError


class LoadResultLike(Protocol):
    @property
    def frames(self) -> Mapping[str, Any]: ...  # symbol -> DataFrame (DatetimeIndex "Date", Open..Volume)

    @property
    def failures(self) -> Mapping[str, Any]: ...  # symbol -> why it did not load


class BarSourceLike(Protocol):
    """The shape of tradebot.data.BarSource this adapter needs."""

    def load(self, symbols: list[str], start: date | None, end: date) -> LoadResultLike: ...


class BarSourcePrices:
    """PriceSource over a bar source: the first bar strictly after ``after`` within ``lookahead_days``.

    With a ``clock``, bars are never requested past today (a generated source cannot leak future prices).
    A known open never changes, so found quotes are cached; "not yet" is asked again next time.
    """

    def __init__(
        self, source: BarSourceLike, *, clock: Clock | None = None, lookahead_days: int = 10
    ) -> None:
        if lookahead_days < 1:
            raise ValueError("lookahead_days must be >= 1")
        self._source = source
        self._clock = clock
        self._lookahead = lookahead_days
        self._cache: dict[tuple[str, date], tuple[date, float]] = {}

    def next_open(self, symbol: str, after: date) -> tuple[date, float] | None:
        cached = self._cache.get((symbol, after))
        if cached is not None:
            return cached
        end = after + timedelta(days=self._lookahead)
        if self._clock is not None:
            end = min(end, self._clock.now().date())
        if end <= after:
            return None
        result = self._source.load([symbol], after, end)
        frame = result.frames.get(symbol)
        if frame is None or len(frame) == 0:
            return None
        later = frame.loc[[ts.date() > after for ts in frame.index]].sort_index()
        if len(later) == 0:
            return None
        session = later.index[0].date()
        open_price = float(later["Open"].iloc[0])
        if not math.isfinite(open_price) or open_price <= 0:
            raise DataQualityError(f"{symbol}: invalid open {open_price!r} on {session}")
        quote = (session, open_price)
        self._cache[(symbol, after)] = quote
        return quote
