"""Corporate actions: a split is never booked as a loss. Pure: no AWS, no clock.

When a symbol splits n:m (n new shares for every m held), every data source restates the symbol's whole
history: each price before the ex-date is divided by ``n/m`` (Yahoo, and any CSV downloaded again). An
account that recorded a close before the split and reads the same session's close again afterwards sees
``known / restated == n/m``. The account must then hold ``n/m`` times the shares at ``m/n`` the average
price, or the next valuation books a loss (a 4:1 split would look like -75%).

**Comparing one session's close** as it was recorded (``known``: a decision's close, an order's reference
price) with the same session's close as the data has it now (``restated``); ``observed = known /
restated`` (:func:`compare_closes`):

- ``UNCHANGED``: ``|observed - 1| <= UNCHANGED_TOLERANCE`` (1e-6, relative: the archive's restatement
  tolerance). Vendors' float noise and text round trips are far below it.
- ``CORRECTED``: ``|observed - 1| <= CORRECTION_TOLERANCE`` (0.5%): the vendor corrected that bar (e.g. the
  official closing price replaced the last trade, which Yahoo does for the latest bar). Nothing is
  adjusted: the corrected close is simply used. No split ratio is that close to 1 (the nearest, 5:4 and
  4:5, are 20-25% away), so a split is never taken for a correction.
- ``SPLIT``: ``observed`` within ``SPLIT_TOLERANCE`` (0.5%, relative: a restated price rounded to cents
  at $1 or more stays inside it) of a ratio of :data:`SPLIT_RATIOS`, or of the ratio of the source's own
  split event for the symbol (any ratio, e.g. a 21:20 stock dividend; yfinance reports them with the
  prices). The event's exact ratio is used when there is one, else the listed ratio, never the noisy
  observed value.
- ``UNEXPLAINED``: anything else. Nothing is adjusted and nothing is booked: the caller stops trading the
  symbol (PaperTrade) or refuses the fill (the executor) with the reason.

:data:`SPLIT_RATIOS` are the ratios seen in practice: ``k:1`` and ``1:k`` for k = 2..20, 25, 30, 40, 50,
100, and ``n:m`` with ``2 <= m < n <= 5`` (3:2, 4:3, 5:2, 5:3, 5:4) and their reverses. It is
deliberately not every ``n/m`` with ``n, m <= 20``: those fractions lie closer together than the
tolerance between 1.1 and 3 (19/17, 17/15, ...), so almost any restatement would "explain" itself as a
split.

**Applying a split** of ratio ``r = n/m`` (:func:`split_position`, :func:`split_order`), as brokers do:

- a position of ``q`` shares becomes ``floor(q * r)`` whole shares; the fraction left over is paid out as
  cash in lieu at the restated close (rounded to cents); the average price becomes ``avg / r``, so the
  cost basis of the shares kept is unchanged;
- a pending order of ``q`` shares becomes ``floor(q * r)`` shares (a SELL of the whole position still
  sells the whole position), its reference price ``price / r``, a limit ``limit / r`` rounded to the tick
  (cents at $1 or more, else $0.0001) in the direction that never makes the limit worse for the account;
  an order left with less than one share is cancelled with the reason (:func:`split_order` returns None).

**Where a split lives in the account.** A split is identified by its symbol and *ex-date*: the first
session on whose prices it has taken effect. Prices and quantities recorded for a session before the
ex-date are in the old units. A recorded split whose ex-date lies after the session a known close is of,
and on or before today, has already been applied: that close is first converted by it
(:func:`recorded_factor`), so whichever of PaperTrade and the executor sees a split first, it is applied
once. A split found by comparing closes has no exact date: it took effect after the reference session and
on or before today's; the *latest* such session is used (PaperTrade: its as-of session; the executor:
the latest session up to today), which is the exact ex-date when the account runs every session, and
otherwise still after every close recorded in the old units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from tradebot.contracts import Order, Signal, SplitEvent
from tradebot.trading.account import Decision, SplitRecord

UNCHANGED_TOLERANCE = 1e-6
CORRECTION_TOLERANCE = 0.005
SPLIT_TOLERANCE = 0.005


def _split_ratios() -> tuple[Fraction, ...]:
    integers = [*range(2, 21), 25, 30, 40, 50, 100]
    ratios = {Fraction(k) for k in integers} | {Fraction(1, k) for k in integers}
    for n in range(3, 6):
        for m in range(2, n):
            if math.gcd(n, m) == 1:
                ratios |= {Fraction(n, m), Fraction(m, n)}
    return tuple(sorted(ratios))


SPLIT_RATIOS: tuple[Fraction, ...] = _split_ratios()


class CloseChange(StrEnum):
    UNCHANGED = "unchanged"
    CORRECTED = "corrected"
    SPLIT = "split"
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class CloseComparison:
    """How a recorded close compares with the same session's close in today's data."""

    change: CloseChange
    known: float
    restated: float
    ratio: Fraction | None = None  # SPLIT: new shares per old share
    from_event: bool = False  # SPLIT: the ratio is the source's split event's

    @property
    def observed(self) -> float:
        return self.known / self.restated


def ratio_text(ratio: Fraction) -> str:
    """``Fraction(4)`` -> ``"4:1"``; ``Fraction(1, 10)`` -> ``"1:10"``; ``Fraction(3, 2)`` -> ``"3:2"``."""
    return f"{ratio.numerator}:{ratio.denominator}"


def parse_ratio(text: str) -> Fraction:
    """The inverse of :func:`ratio_text`."""
    new, _, old = text.partition(":")
    return Fraction(int(new), int(old or "1"))


def event_ratio(value: float) -> Fraction:
    """A source's split factor (yfinance "Stock Splits": 4.0, 0.1, 1.5, 1.05) as an exact ratio."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"a split ratio must be finite and positive, got {value!r}")
    return Fraction(value).limit_denominator(1000)


def _check_price(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive price, got {value!r}")


def _near(observed: float, ratio: Fraction, tolerance: float) -> bool:
    return abs(observed / float(ratio) - 1.0) <= tolerance


def split_ratio(known_close: float, restated_close: float) -> Fraction | None:
    """The listed split ratio (:data:`SPLIT_RATIOS`) that turned ``known_close`` into ``restated_close``,
    or None (unchanged, a correction, or no split explains it)."""
    comparison = compare_closes(known_close, restated_close)
    return comparison.ratio if comparison.change is CloseChange.SPLIT else None


def compare_closes(known: float, restated: float, event: Fraction | None = None) -> CloseComparison:
    """Classify a restatement of one session's close (see the module doc). ``event``: the ratio of the
    source's split event for this symbol, if it reported one since the session; it is preferred."""
    _check_price("known close", known)
    _check_price("restated close", restated)
    observed = known / restated
    if event is not None and event != 1 and _near(observed, event, SPLIT_TOLERANCE):
        return CloseComparison(CloseChange.SPLIT, known, restated, event, from_event=True)
    deviation = abs(observed - 1.0)
    if deviation <= UNCHANGED_TOLERANCE:
        return CloseComparison(CloseChange.UNCHANGED, known, restated)
    if deviation <= CORRECTION_TOLERANCE:
        return CloseComparison(CloseChange.CORRECTED, known, restated)
    nearest = min(SPLIT_RATIOS, key=lambda r: abs(math.log(observed / float(r))))
    if _near(observed, nearest, SPLIT_TOLERANCE):
        return CloseComparison(CloseChange.SPLIT, known, restated, nearest)
    return CloseComparison(CloseChange.UNEXPLAINED, known, restated)


def describe(comparison: CloseComparison, symbol: str, session: date) -> str:
    """One line saying what happened to ``symbol``'s close of ``session``."""
    moved = (
        f"{symbol}'s close of {session} was {comparison.known:,.6g} when recorded and is "
        f"{comparison.restated:,.6g} in today's data (x{1 / comparison.observed:.4g})"
    )
    if comparison.change is CloseChange.SPLIT and comparison.ratio is not None:
        origin = "the source's split event" if comparison.from_event else "the restated history"
        return f"{moved}: a {ratio_text(comparison.ratio)} split ({origin})"
    if comparison.change is CloseChange.UNEXPLAINED:
        return f"{moved}, which no split ratio explains"
    return moved


# --- applying a split ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionSplit:
    """A position after a split: whole shares, the average price, and the cash paid for the fraction."""

    quantity: int
    avg_price: float
    fraction: Fraction  # shares (in new units) paid out as cash in lieu, 0 <= fraction < 1
    cash_in_lieu: float


def split_position(quantity: int, avg_price: float, ratio: Fraction, restated_close: float) -> PositionSplit:
    """``quantity`` shares bought at ``avg_price`` after a split of ``ratio`` (see the module doc)."""
    if quantity < 0:
        raise ValueError(f"a position cannot be negative, got {quantity}")
    if ratio <= 0:
        raise ValueError(f"a split ratio must be positive, got {ratio}")
    _check_price("restated close", restated_close)
    exact = quantity * ratio
    whole = math.floor(exact)
    fraction = exact - whole
    cash = round(float(fraction) * restated_close, 2)
    return PositionSplit(
        quantity=whole,
        avg_price=float(Fraction(avg_price) / ratio) if avg_price else 0.0,
        fraction=fraction,
        cash_in_lieu=cash,
    )


def _tick(price: float) -> Fraction:
    return Fraction(1, 100) if price >= 1 else Fraction(1, 10_000)


def adjusted_limit(side: str, limit: float, ratio: Fraction) -> float:
    """A limit price after a split: ``limit / ratio`` on the tick, rounded so that it never gets worse for
    the account (a BUY's down, a SELL's up); at least one tick."""
    exact = Fraction(limit) / ratio
    tick = _tick(float(exact))
    steps = exact / tick
    rounded = math.floor(steps) if side == "BUY" else math.ceil(steps)
    return float(max(rounded, 1) * tick)


def split_order(order: Order, ratio: Fraction) -> Order | None:
    """``order`` in the units after a split of ``ratio``; None when less than one share is left."""
    quantity = math.floor(order.quantity * ratio)
    if quantity < 1:
        return None
    update: dict[str, object] = {
        "quantity": quantity,
        "reference_price": float(Fraction(order.reference_price) / ratio),
    }
    if order.limit_price is not None:
        update["limit_price"] = adjusted_limit(order.side, order.limit_price, ratio)
    return Order.model_validate({**order.model_dump(), **update})


# --- which splits a recorded close has seen -----------------------------------------------------------


def recorded_factor(records: Iterable[SplitRecord], symbol: str, after: date, until: date) -> Fraction:
    """The product of the ratios of ``symbol``'s recorded splits that took effect after session ``after``
    and on or before ``until``: what a close recorded on ``after`` must be divided by to be in today's
    units."""
    factor = Fraction(1)
    for record in records:
        if record.symbol == symbol and after < record.ex_date <= until:
            factor *= record.fraction
    return factor


def event_between(
    events: Sequence[SplitEvent], symbol: str, after: date, until: date, recorded: Iterable[SplitRecord]
) -> SplitEvent | None:
    """The source's split event of ``symbol`` that took effect after ``after`` and on or before ``until``
    and is not recorded yet (the latest, if several)."""
    done = {r.ex_date for r in recorded if r.symbol == symbol}
    found = [e for e in events if e.symbol == symbol and after < e.ex_date <= until and e.ex_date not in done]
    return max(found, key=lambda e: e.ex_date) if found else None


@dataclass(frozen=True)
class SplitFound:
    """A split to apply to an account (tradebot.store.corporate_actions): found by PaperTrade comparing a
    decision's closes with today's data, or by the executor comparing an order's reference price with
    the price source."""

    account: str
    symbol: str
    ex_date: date
    ratio: Fraction
    reference_session: date
    known_close: float
    restated_close: float
    from_event: bool = False

    @property
    def text(self) -> str:
        return ratio_text(self.ratio)


@dataclass(frozen=True)
class CloseReview:
    """One held or pending symbol's recorded close checked against today's data (PaperTrade)."""

    symbol: str
    reference_session: date  # the session of the latest decision that recorded its close
    known_close: float  # its recorded close, converted by the splits recorded since (today's units)
    comparison: CloseComparison | None  # None: today's data has no bar of the reference session
    ex_date: date | None = None  # SPLIT: the split's ex-date (the event's, else the latest possible)

    @property
    def change(self) -> CloseChange | None:
        return None if self.comparison is None else self.comparison.change

    def split(self, account: str) -> SplitFound:
        comparison = self.comparison
        if comparison is None or comparison.ratio is None or self.ex_date is None:
            raise ValueError(f"{self.symbol}: not a split")
        return SplitFound(
            account=account,
            symbol=self.symbol,
            ex_date=self.ex_date,
            ratio=comparison.ratio,
            reference_session=self.reference_session,
            known_close=comparison.known,
            restated_close=comparison.restated,
            from_event=comparison.from_event,
        )

    def describe(self) -> str:
        if self.comparison is None:
            return (
                f"{self.symbol}: not checked for a split: today's data has no bar of {self.reference_session}"
                " (the last decision that recorded its close) to compare with"
            )
        return describe(self.comparison, self.symbol, self.reference_session)


def review_closes(
    symbols: Iterable[str],
    references: Decision | Sequence[Decision],
    signals: Mapping[str, Signal],
    records: Sequence[SplitRecord],
    events: Sequence[SplitEvent],
    session: date,
) -> list[CloseReview]:
    """Each of ``symbols`` with a recorded close and a signal of ``session``: that close, converted by the
    splits recorded since (they are applied already), against the same session's close in today's data
    (the signal's ``recent_closes``); the source's split event in between, if any, gives the ratio (see
    the module doc). ``references``: the account's previous decisions, latest first (or the previous
    one); a symbol's close is the latest one recorded, so a day it had no close (its signal withheld, it
    was stopped) does not lose it."""
    decisions = [references] if isinstance(references, Decision) else list(references)
    reviews = []
    for symbol in symbols:
        reference = next((d for d in decisions if symbol in d.closes), None)
        signal = signals.get(symbol)
        if reference is None or signal is None:
            continue
        recorded = reference.closes[symbol]
        known = float(Fraction(recorded) / recorded_factor(records, symbol, reference.as_of, session))
        restated = signal.recent_closes.get(reference.as_of)
        if restated is None:
            reviews.append(CloseReview(symbol, reference.as_of, known, None))
            continue
        event = event_between(events, symbol, reference.as_of, session, records)
        comparison = compare_closes(known, restated, event_ratio(event.ratio) if event else None)
        ex_date = None
        if comparison.change is CloseChange.SPLIT:
            ex_date = event.ex_date if event is not None and comparison.from_event else session
        reviews.append(CloseReview(symbol, reference.as_of, known, comparison, ex_date))
    return reviews
