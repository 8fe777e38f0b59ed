"""Next-session bars from a bar source (tradebot.data): the paper broker's view of the market.

:class:`BarSourcePrices` answers "the first bar after a date" from a bar source, counting only bars dated
on NYSE sessions (a row dated on a weekend or holiday is never a price). It tells "no bar (yet)" (None:
the source has no row there, or the symbol is unknown to it, or its data ends earlier) apart from a failed
lookup (:class:`~tradebot.execution.broker.PriceLookupError`: the source raised, or could not read the
symbol's data, e.g. an unreadable file or conflicting duplicate dates). Which session an order may use,
and when a missing bar ends an order, is the broker's rule (:mod:`tradebot.execution.broker`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tradebot.clock import Clock
from tradebot.execution.broker import PriceLookupError, SessionBar

if TYPE_CHECKING:
    from tradebot.calendar import TradingCalendar

# Failure codes of a bar source (tradebot.data.LoadResult.codes) that mean "the source has no bar there":
# anything else is a failed lookup.
NO_BAR_CODES = frozenset({"no_data", "stale"})


class LoadResultLike(Protocol):
    @property
    def frames(self) -> Mapping[str, Any]: ...  # symbol -> DataFrame (DatetimeIndex "Date", Open..Volume)

    @property
    def failures(self) -> Mapping[str, Any]: ...  # symbol -> why it did not load


class BarSourceLike(Protocol):
    """The shape of tradebot.data.BarSource this adapter needs."""

    def load(self, symbols: list[str], start: date | None, end: date) -> LoadResultLike: ...


class BarSourcePrices:
    """PriceSource over a bar source: the first bar dated on a session strictly after ``after`` within
    ``lookahead_days`` (rows on closed days are skipped).

    With a ``clock``, bars are never requested past today (a generated source cannot leak future prices).
    A bar of a past session is cached with the close of ``after`` read with it; "not yet" and today's
    (possibly still forming) bar are asked again next time. :meth:`close_on` answers the close of
    ``after`` from the same data as :meth:`next_bar` (the broker compares it with the close an order was
    sized on: a split restates it, and a fill must be in the same units as that close). A source that
    raises, or reports a failure other than "no data" for the symbol (its ``codes``), raises
    :class:`PriceLookupError`. Bar values are checked by the broker, not here.
    """

    def __init__(
        self,
        source: BarSourceLike,
        *,
        clock: Clock | None = None,
        lookahead_days: int = 10,
        calendar: TradingCalendar | None = None,
    ) -> None:
        if lookahead_days < 1:
            raise ValueError("lookahead_days must be >= 1")
        if calendar is None:
            from tradebot.calendar import get_calendar

            calendar = get_calendar()
        self._source = source
        self._clock = clock
        self._lookahead = lookahead_days
        self._calendar = calendar
        self._cache: dict[tuple[str, date], tuple[SessionBar, float | None]] = {}
        self._closes: dict[tuple[str, date], float | None] = {}  # the close of ``after`` of the last load

    def close_on(self, symbol: str, session: date) -> float | None:
        """``session``'s close from the data :meth:`next_bar` (``after=session``) answered from (loaded
        now if it was not asked yet); None if the source has no bar of that session."""
        if (symbol, session) not in self._closes:
            self.next_bar(symbol, session)
        return self._closes.get((symbol, session))

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        cached = self._cache.get((symbol, after))
        if cached is not None:
            self._closes[(symbol, after)] = cached[1]
            return cached[0]
        end = after + timedelta(days=self._lookahead)
        today = self._clock.now().date() if self._clock is not None else None
        if today is not None:
            end = min(end, today)
        if end <= after:
            return None
        try:
            result = self._source.load([symbol], after, end)
        except Exception as exc:
            raise PriceLookupError(f"{symbol}: the price source failed: {type(exc).__name__}: {exc}") from exc
        frame = result.frames.get(symbol)
        self._closes[(symbol, after)] = None
        if frame is None or len(frame) == 0:
            code = getattr(result, "codes", {}).get(symbol, "no_data")
            if symbol in result.failures and code not in NO_BAR_CODES:
                raise PriceLookupError(
                    f"{symbol}: the price source could not load it: {result.failures[symbol]}"
                )
            return None
        on_after = frame.loc[[ts.date() == after for ts in frame.index], "Close"]
        anchor = float(on_after.iloc[-1]) if len(on_after) else None
        if anchor is not None and not (math.isfinite(anchor) and anchor > 0):
            anchor = None  # an unusable close says nothing about a restatement
        self._closes[(symbol, after)] = anchor
        later = frame.loc[[ts.date() > after and self._is_session(ts.date()) for ts in frame.index]]
        later = later.sort_index()
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
            self._cache[(symbol, after)] = (bar, anchor)
        return bar

    def _is_session(self, day: date) -> bool:
        cal = self._calendar
        return cal.start <= day <= cal.end and cal.is_session(day)
