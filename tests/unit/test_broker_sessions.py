"""Issue 10 §2: prices come only from exchange sessions. An order decided on session D fills at the open
of the next NYSE session after D and only then; a bar dated on a closed day is never a fill price; a
missing bar makes the order wait, then CANCELLED once that session is over; never a later session's
price. The SPY values are REAL (tests/fixtures/SPY.csv); the property test's extra rows are synthetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.market_fakes import FakeSource, spy_until, write_spy
from tradebot.calendar import get_calendar
from tradebot.clock import FixedClock
from tradebot.contracts import Fill, Order, order_id_for
from tradebot.data import LoadResult
from tradebot.data.csv_source import CsvSource
from tradebot.errors import DataQualityError
from tradebot.execution.broker import (
    Execution,
    ExecutionStatus,
    PaperBroker,
    PriceLookupError,
    SessionBar,
)
from tradebot.execution.next_bars import BarSourcePrices

CAL = get_calendar()


def spy_close(day: date) -> float | None:
    """The REAL SPY fixture's close of ``day`` (None: no such row)."""
    row = next((line for line in spy_until(day.isoformat(), day.isoformat())[1:]), None)
    return float(row.split(",")[4]) if row else None


def order(
    as_of: date,
    side: str = "BUY",
    symbol: str = "SPY",
    limit: float | None = None,
    reference_price: float | None = None,
) -> Order:
    """An order sized on ``reference_price``, by default the decision session's close in the SPY fixture
    (the broker refuses an order whose decision close the price source has restated)."""
    return Order(
        order_id=order_id_for("paper", as_of, symbol, side),
        run_id="run-1",
        account="paper",
        as_of=as_of,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=10,
        reference_price=reference_price or spy_close(as_of) or 500.0,
        synthetic=False,
        created_at=datetime.combine(as_of, datetime.min.time(), tzinfo=UTC) + timedelta(hours=21, minutes=30),
        order_type="MARKET" if limit is None else "LIMIT",
        limit_price=limit,
    )


def ny(day: str, hh: int, mm: int = 0) -> datetime:
    """A New York wall time as a UTC-aware datetime."""
    return pd.Timestamp(f"{day} {hh:02d}:{mm:02d}", tz="America/New_York").tz_convert("UTC").to_pydatetime()


def broker(source: object, clock: FixedClock | None = None) -> PaperBroker:
    """The paper broker with the default trading config's costs (commission 0.05%, slippage 5 bps)."""
    prices = BarSourcePrices(source, clock=clock)  # type: ignore[arg-type]
    return PaperBroker(prices, commission_rate=0.0005, slippage_bps=5.0, clock=clock)


def spy_without(
    tmp_path: Path, *dates: str, first: str = "2021-01-01", last: str = "2024-04-19"
) -> CsvSource:
    lines = [line for line in spy_until(last, first) if line[:10] not in dates]
    return CsvSource(write_spy(tmp_path / "spy", lines))


# --- the example, on real SPY bars --------------------------------------------------------------


def test_a_missing_next_session_cancels_instead_of_filling_a_later_open(tmp_path: Path) -> None:
    # SPY 2021-01-01..2024-04-19 without the 2024-04-17 row, decision on 2024-04-16: the order used to
    # fill on 2024-04-18 at 502.231 (that day's open 501.98 + 5 bps). Now: no fill, CANCELLED, with why.
    source = spy_without(tmp_path, "2024-04-17")
    execution = broker(source).execute(order(date(2024, 4, 16)))
    assert execution.status is ExecutionStatus.CANCELLED and execution.fill is None
    assert "no bar for SPY on 2024-04-17 (the session after the 2024-04-16 decision)" in execution.reason
    assert "next bar is 2024-04-18" in execution.reason
    # the same with the clock of a live executor, the day after
    late = broker(source, FixedClock(ny("2024-04-19", 9))).execute(order(date(2024, 4, 16)))
    assert late.status is ExecutionStatus.CANCELLED and late.fill is None


def test_with_every_session_present_the_fill_is_the_next_sessions_open(tmp_path: Path) -> None:
    source = spy_without(tmp_path)
    fill = filled(broker(source).execute(order(date(2024, 4, 16))))
    assert (fill.session, fill.price) == (date(2024, 4, 17), pytest.approx(506.04998779296875 * 1.0005))
    fill = filled(broker(source).execute(order(date(2024, 4, 17))))  # decided on the 17th: the 18th's open
    assert (fill.session, round(fill.price, 3)) == (date(2024, 4, 18), 502.231)


def test_the_missing_session_waits_then_is_cancelled_once_it_is_over(tmp_path: Path) -> None:
    # a live source that has not published the 2024-04-17 bar yet, and no later bar either
    source = spy_without(tmp_path, "2024-04-17", last="2024-04-16")
    decided = order(date(2024, 4, 16))
    assert broker(source, FixedClock(ny("2024-04-17", 9, 29))).execute(decided).reason == (
        "awaiting the 2024-04-17 open"
    )
    for moment in (ny("2024-04-17", 10), ny("2024-04-17", 16, 30), ny("2024-04-17", 21, 59)):
        execution = broker(source, FixedClock(moment)).execute(decided)
        assert execution.status is ExecutionStatus.PENDING, moment
    over = broker(source, FixedClock(ny("2024-04-17", 22))).execute(decided)  # close + 6 h
    assert over.status is ExecutionStatus.CANCELLED
    assert over.reason == (
        "day order expired: no bar for SPY on 2024-04-17 (the session after the 2024-04-16 decision) in the "
        "price source by 2024-04-17 22:00 EDT (its close + 6 h); never filled at a later session's price"
    )


def test_a_bar_that_arrives_within_the_grace_still_fills(tmp_path: Path) -> None:
    source = spy_without(tmp_path, last="2024-04-17")  # the 17th's bar is there at 20:00
    fill = filled(broker(source, FixedClock(ny("2024-04-17", 20))).execute(order(date(2024, 4, 16))))
    assert fill.session == date(2024, 4, 17)


def test_an_early_close_ends_the_session_sooner() -> None:
    # 2024-11-29 closes at 13:00: with no bar, the order ends at 19:00, not 22:00 (synthetic flat bars)
    source = FakeSource({"SPY": _flat([(date(2024, 11, 26), 100.0), (date(2024, 11, 27), 100.0)])})
    # Thanksgiving (the 28th) is closed: the next session is the 29th
    decided = order(date(2024, 11, 27), reference_price=100.0)
    assert (
        broker(source, FixedClock(ny("2024-11-29", 18, 59))).execute(decided).status
        is ExecutionStatus.PENDING
    )
    cancelled = broker(source, FixedClock(ny("2024-11-29", 19))).execute(decided)
    assert cancelled.status is ExecutionStatus.CANCELLED and "2024-11-29 19:00 EST" in cancelled.reason


def test_a_row_dated_on_a_closed_day_is_never_a_fill_price(tmp_path: Path) -> None:
    header, *rows = spy_until("2024-04-19", "2024-03-01")
    saturday = "2024-04-13,600.0,600.0,600.0,600.0,600.0,1"  # synthetic row on a Saturday
    good_friday = "2024-03-29,700.0,700.0,700.0,700.0,700.0,1"  # synthetic row on a holiday
    source = CsvSource(write_spy(tmp_path / "d", [header, *rows, saturday, good_friday]))
    fill = filled(broker(source).execute(order(date(2024, 4, 12))))
    assert fill.session == date(2024, 4, 15) and fill.price == pytest.approx(515.1300048828125 * 1.0005)
    fill = filled(broker(source).execute(order(date(2024, 3, 28))))
    assert fill.session == date(2024, 4, 1) and fill.price < 600


class ListPrices:
    """A raw PriceSource: the first listed bar strictly after ``after`` (closed days included)."""

    def __init__(self, bars: list[SessionBar]) -> None:
        self.bars = sorted(bars, key=lambda b: b.session)
        self.calls: list[date] = []

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        self.calls.append(after)
        return next((b for b in self.bars if b.session > after), None)


def test_the_broker_itself_skips_closed_day_bars_of_any_price_source() -> None:
    weekend = [SessionBar(date(2024, 4, 13), 1, 1, 1, 1), SessionBar(date(2024, 4, 14), 2, 2, 2, 2)]
    prices = ListPrices([*weekend, SessionBar(date(2024, 4, 15), 3, 3, 3, 3)])
    fill = filled(PaperBroker(prices, 0.0, 0.0).execute(order(date(2024, 4, 12))))
    assert (fill.session, fill.price) == (date(2024, 4, 15), 3.0)
    assert prices.calls == [date(2024, 4, 12), date(2024, 4, 13), date(2024, 4, 14)]


def test_nothing_fills_before_the_sessions_open(tmp_path: Path) -> None:
    source = spy_without(tmp_path)
    early = broker(source, FixedClock(ny("2024-04-17", 9, 29))).execute(order(date(2024, 4, 16)))
    assert early.status is ExecutionStatus.PENDING


# --- failed lookups are not "no price yet" ---------------------------------------------------------------


class Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def load(self, symbols: list[str], start: date | None, end: date) -> LoadResult:
        raise self.exc


def test_a_source_that_raises_is_a_price_lookup_error() -> None:
    with pytest.raises(PriceLookupError, match="SPY: the price source failed: ConnectionError: feed down"):
        broker(Raising(ConnectionError("feed down"))).execute(order(date(2024, 4, 16)))


def test_an_unreadable_file_is_a_lookup_error_and_an_unknown_symbol_is_no_price(tmp_path: Path) -> None:
    directory = write_spy(tmp_path / "d", ["Date,Open,High,Low,Close,Volume", "16/04/2024,1,1,1,1,1"])
    with pytest.raises(PriceLookupError, match="unreadable CSV"):
        broker(CsvSource(directory)).execute(order(date(2024, 4, 16)))
    pending = broker(CsvSource(directory)).execute(order(date(2024, 4, 16), symbol="QQQ"))
    assert pending.status is ExecutionStatus.PENDING


def test_lookups_failing_long_after_the_session_cancel_the_order() -> None:
    failing = Raising(TimeoutError("read timed out"))
    decided = order(date(2024, 4, 16))
    with pytest.raises(PriceLookupError):
        broker(failing, FixedClock(ny("2024-04-20", 15, 59))).execute(decided)  # close + 3 days - 1 min
    cancelled = broker(failing, FixedClock(ny("2024-04-20", 16))).execute(decided)
    assert cancelled.status is ExecutionStatus.CANCELLED
    assert "price lookups still failing 3 days after its close (PriceLookupError" in cancelled.reason


def test_a_data_quality_error_of_the_price_source_is_not_swallowed() -> None:
    class Broken:
        def next_bar(self, symbol: str, after: date) -> SessionBar | None:
            raise DataQualityError("bad bar")

    with pytest.raises(DataQualityError):
        PaperBroker(Broken(), 0.0, 0.0).execute(order(date(2024, 4, 16)))


# --- property: whatever rows are added or missing, a fill is only ever the decision's next session -------


def _flat(rows: list[tuple[date, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(d) for d, _ in rows], name="Date").as_unit("us")
    prices = [p for _, p in rows]
    return pd.DataFrame(
        {"Open": prices, "High": prices, "Low": prices, "Close": prices, "Adj Close": prices, "Volume": 1.0},
        index=index,
    )


WINDOW = [d for d in (date(2024, 3, 1) + timedelta(days=i) for i in range(60))]
SESSIONS = [d for d in WINDOW if CAL.is_session(d)]
CLOSED = [d for d in WINDOW if not CAL.is_session(d)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decision=st.sampled_from(SESSIONS[:-12]),
    missing=st.sets(st.sampled_from(SESSIONS)),
    extra=st.sets(st.sampled_from(CLOSED)),
    hours_after_open=st.none() | st.integers(-30, 24 * 12),
)
def test_property_a_fill_is_only_ever_the_next_sessions_open(
    decision: date, missing: set[date], extra: set[date], hours_after_open: int | None
) -> None:
    # synthetic flat bars: session d's open is its ordinal (so a fill's price names its session);
    # extra rows on closed days are priced far away (a fill at one would show)
    rows = [(d, float(d.toordinal())) for d in SESSIONS if d not in missing]
    rows += [(d, 1e6 + d.toordinal()) for d in extra]
    source = FakeSource({"SPY": _flat(sorted(rows))})
    session = CAL.next_session(decision)
    clock = None
    if hours_after_open is not None:
        clock = FixedClock(CAL.session_open(session) + timedelta(hours=hours_after_open))
    execution = broker(source, clock).execute(order(decision, reference_price=float(decision.toordinal())))
    if execution.status is ExecutionStatus.FILLED:
        assert execution.fill is not None
        assert execution.fill.session == session
        assert execution.fill.price == pytest.approx(session.toordinal() * 1.0005)
    if session in missing:
        assert execution.status is not ExecutionStatus.FILLED
        # what the price source can see: up to 10 days after the decision, never after today
        later = [d for d in SESSIONS if session < d <= decision + timedelta(days=10) and d not in missing]
        if clock is not None:
            later = [d for d in later if d <= clock.now().date()]
        if later:
            assert (
                execution.status is ExecutionStatus.CANCELLED
                and f"next bar is {later[0]}" in execution.reason
            )
    elif clock is None or clock.now() >= CAL.session_open(session):
        assert execution.status is ExecutionStatus.FILLED
    else:
        assert execution.status is ExecutionStatus.PENDING


def filled(execution: Execution) -> Fill:
    assert execution.status is ExecutionStatus.FILLED and execution.fill is not None, execution
    return execution.fill
