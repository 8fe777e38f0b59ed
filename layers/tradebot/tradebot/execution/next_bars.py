"""Next-session bars from a bar source (tradebot.data): the paper broker's view of the market."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Protocol

from tradebot.clock import Clock
from tradebot.execution.broker import SessionBar


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
    A bar of a past session never changes, so those are cached; "not yet" and today's (possibly still
    forming) bar are asked again next time. Bars are checked by the broker, not here.
    """

    def __init__(
        self, source: BarSourceLike, *, clock: Clock | None = None, lookahead_days: int = 10
    ) -> None:
        if lookahead_days < 1:
            raise ValueError("lookahead_days must be >= 1")
        self._source = source
        self._clock = clock
        self._lookahead = lookahead_days
        self._cache: dict[tuple[str, date], SessionBar] = {}

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        cached = self._cache.get((symbol, after))
        if cached is not None:
            return cached
        end = after + timedelta(days=self._lookahead)
        today = self._clock.now().date() if self._clock is not None else None
        if today is not None:
            end = min(end, today)
        if end <= after:
            return None
        result = self._source.load([symbol], after, end)
        frame = result.frames.get(symbol)
        if frame is None or len(frame) == 0:
            return None
        later = frame.loc[[ts.date() > after for ts in frame.index]].sort_index()
        if len(later) == 0:
            return None
        row = later.iloc[0]
        bar = SessionBar(
            session=later.index[0].date(),
            open=float(row["Open"]),
            high=float(row["High"]),
            low=float(row["Low"]),
            close=float(row["Close"]),
        )
        if today is None or bar.session < today:
            self._cache[(symbol, after)] = bar
        return bar
