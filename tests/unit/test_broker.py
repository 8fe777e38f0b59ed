"""The paper broker and its price source: next-session fills, slippage, commission, limit orders, day-order
expiry, never look-ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pydantic import ValidationError

from tradebot.clock import FixedClock
from tradebot.contracts import Fill, Order, order_id_for
from tradebot.errors import DataQualityError
from tradebot.execution.broker import Execution, ExecutionStatus, PaperBroker, SessionBar, new_york_close
from tradebot.execution.next_bars import BarSourcePrices

AS_OF = date(2024, 3, 8)  # a Friday: the next session is Monday the 11th


def make_order(side: str = "BUY", quantity: int = 10, symbol: str = "SPY", as_of: date = AS_OF) -> Order:
    return Order(
        order_id=order_id_for("paper", as_of, symbol, side),
        run_id="run-1",
        account="paper",
        as_of=as_of,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        reference_price=100.0,
        synthetic=True,
        created_at=datetime(2024, 3, 8, 21, 30, tzinfo=UTC),
    )


class FakePrices:
    """Bars by symbol as (session, open, high, low, close); next_bar is the first strictly after."""

    def __init__(self, bars: dict[str, list[tuple[date, float, float, float, float]]]) -> None:
        self.bars = bars
        self.calls: list[tuple[str, date]] = []

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        self.calls.append((symbol, after))
        later = [b for b in sorted(self.bars.get(symbol, [])) if b[0] > after]
        return SessionBar(*later[0]) if later else None


def flat(session: date, price: float) -> tuple[date, float, float, float, float]:
    return (session, price, price, price, price)


MONDAY = date(2024, 3, 11)


def filled(execution: Execution) -> Fill:
    assert execution.status is ExecutionStatus.FILLED and execution.fill is not None, execution
    return execution.fill


def test_buy_fills_at_next_open_plus_slippage_with_commission() -> None:
    prices = FakePrices(
        {"SPY": [flat(date(2024, 3, 8), 99.0), flat(MONDAY, 100.0), flat(date(2024, 3, 12), 120.0)]}
    )
    fill = filled(PaperBroker(prices, commission_rate=0.001, slippage_bps=10).execute(make_order("BUY", 10)))
    assert fill.session == MONDAY
    assert fill.price == pytest.approx(100.0 * 1.001)
    assert fill.commission == pytest.approx(0.001 * 10 * 100.0 * 1.001)
    assert (fill.order_id, fill.symbol, fill.side, fill.quantity) == (make_order().order_id, "SPY", "BUY", 10)
    assert prices.calls == [("SPY", AS_OF)]


def test_sell_fills_at_next_open_minus_slippage() -> None:
    prices = FakePrices({"SPY": [flat(MONDAY, 50.0)]})
    fill = filled(PaperBroker(prices, commission_rate=0.0, slippage_bps=20).execute(make_order("SELL", 3)))
    assert fill.price == pytest.approx(50.0 * 0.998)
    assert fill.commission == 0.0


def test_no_price_yet_is_pending() -> None:
    prices = FakePrices({"SPY": [flat(AS_OF, 99.0)]})  # only the decision bar: the next open is unknown
    execution = PaperBroker(prices, commission_rate=0.001, slippage_bps=5).execute(make_order())
    assert (execution.status, execution.fill) == (ExecutionStatus.PENDING, None)


class LookAheadPrices:
    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        return SessionBar(after, 100.0, 100.0, 100.0, 100.0)  # a buggy source: the decision session itself


def test_a_price_from_the_decision_session_is_refused() -> None:
    with pytest.raises(DataQualityError, match="later session"):
        PaperBroker(LookAheadPrices(), commission_rate=0.0, slippage_bps=0).execute(make_order())


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_open_is_a_data_quality_error(bad: float) -> None:
    prices = FakePrices({"SPY": [(MONDAY, bad, 101.0, 99.0, 100.0)]})
    with pytest.raises(DataQualityError):
        PaperBroker(prices, commission_rate=0.0, slippage_bps=0).execute(make_order())


def test_inconsistent_ohlc_is_a_data_quality_error() -> None:
    prices = FakePrices({"SPY": [(MONDAY, 100.0, 99.0, 98.0, 100.0)]})  # high below the open
    with pytest.raises(DataQualityError, match="OHLC"):
        PaperBroker(prices, commission_rate=0.0, slippage_bps=0).execute(make_order())


@pytest.mark.parametrize(("rate", "bps"), [(-0.1, 0), (1.0, 0), (0.0, -1), (0.0, 10_000)])
def test_bad_broker_parameters(rate: float, bps: float) -> None:
    with pytest.raises(ValueError):
        PaperBroker(FakePrices({}), commission_rate=rate, slippage_bps=bps)


# --- limit orders and day-order expiry ---------------------------------------------------------------------


def limit_order(side: str, limit: float) -> Order:
    return make_order(side).model_copy(update={"order_type": "LIMIT", "limit_price": limit})


@pytest.mark.parametrize(
    ("side", "limit", "bar", "price"),
    [
        # open already better than the limit: the open (with slippage), never worse than the limit
        ("BUY", 101.0, (MONDAY, 100.0, 102.0, 99.0, 101.0), 100.0 * 1.001),
        ("BUY", 100.05, (MONDAY, 100.0, 102.0, 99.0, 101.0), 100.05),  # slippage capped at the limit
        ("SELL", 99.0, (MONDAY, 100.0, 102.0, 98.0, 101.0), 100.0 * 0.999),
        ("SELL", 99.95, (MONDAY, 100.0, 102.0, 98.0, 101.0), 99.95),
        # reached during the session: the limit
        ("BUY", 99.5, (MONDAY, 100.0, 102.0, 99.0, 101.0), 99.5),
        ("SELL", 101.5, (MONDAY, 100.0, 102.0, 99.0, 101.0), 101.5),
        # touched exactly
        ("BUY", 99.0, (MONDAY, 100.0, 102.0, 99.0, 101.0), 99.0),
        ("SELL", 102.0, (MONDAY, 100.0, 102.0, 99.0, 101.0), 102.0),
    ],
)
def test_limit_orders_fill_only_at_or_better_than_the_limit(
    side: str, limit: float, bar: tuple, price: float
) -> None:
    broker = PaperBroker(FakePrices({"SPY": [bar]}), commission_rate=0.001, slippage_bps=10)
    fill = filled(broker.execute(limit_order(side, limit)))
    assert fill.price == pytest.approx(price)
    assert fill.price <= limit if side == "BUY" else fill.price >= limit
    assert fill.commission == pytest.approx(0.001 * 10 * fill.price)


@pytest.mark.parametrize(("side", "limit"), [("BUY", 98.99), ("SELL", 102.01)])
def test_a_day_limit_not_reached_is_cancelled_once_its_session_closed(side: str, limit: float) -> None:
    bar = (MONDAY, 100.0, 102.0, 99.0, 101.0)
    during = FixedClock(datetime(2024, 3, 11, 19, 59, tzinfo=UTC))  # 15:59 New York: still trading
    broker = PaperBroker(FakePrices({"SPY": [bar]}), commission_rate=0.0, slippage_bps=0, clock=during)
    assert broker.execute(limit_order(side, limit)).status is ExecutionStatus.PENDING
    during.advance(60)  # 16:00 New York: the close
    execution = broker.execute(limit_order(side, limit))
    assert execution.status is ExecutionStatus.CANCELLED and execution.fill is None
    assert execution.reason.startswith(f"day order expired: limit {limit:g} not reached on 2024-03-11")


def test_without_a_clock_every_bar_is_complete() -> None:
    broker = PaperBroker(FakePrices({"SPY": [(MONDAY, 100.0, 102.0, 99.0, 101.0)]}), 0.0, 0.0)
    assert broker.execute(limit_order("BUY", 98.0)).status is ExecutionStatus.CANCELLED


def test_limit_price_is_required_exactly_for_limit_orders() -> None:
    with pytest.raises(ValidationError):
        Order.model_validate({**make_order().model_dump(), "order_type": "LIMIT"})
    with pytest.raises(ValidationError):
        Order.model_validate({**make_order().model_dump(), "limit_price": 10.0})
    assert Order.model_validate({**make_order().model_dump(), "order_type": "LIMIT", "limit_price": 10.0})


def test_new_york_close_is_4pm_local_in_both_dst_regimes() -> None:
    assert new_york_close(date(2024, 1, 8)).astimezone(UTC).hour == 21
    assert new_york_close(date(2024, 7, 8)).astimezone(UTC).hour == 20


# --- BarSourcePrices -------------------------------------------------------------------------------------


def open_of(bar: SessionBar | None) -> tuple[date, float] | None:
    return None if bar is None else (bar.session, bar.open)


def bars(rows: dict[str, float]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(d) for d in rows], name="Date")
    opens = list(rows.values())
    return pd.DataFrame(
        {
            "Open": opens,
            "High": opens,
            "Low": opens,
            "Close": opens,
            "Adj Close": opens,
            "Volume": [1000.0] * len(opens),
        },
        index=index,
    )


@dataclass
class FakeResult:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class FakeSource:
    """Bars for SPY; load() honours [start, end] inclusive like tradebot.data sources."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls: list[tuple[list[str], date | None, date]] = []

    def load(self, symbols: list[str], start: date | None, end: date) -> FakeResult:
        self.calls.append((list(symbols), start, end))
        result = FakeResult()
        for symbol in symbols:
            if symbol != "SPY":
                result.failures[symbol] = "unknown symbol"
                continue
            mask = self.frame.index <= pd.Timestamp(end)
            if start is not None:
                mask &= self.frame.index >= pd.Timestamp(start)
            result.frames[symbol] = self.frame.loc[mask]
        return result


def test_bar_source_prices_first_session_strictly_after() -> None:
    source = FakeSource(
        bars({"2024-03-07": 98.0, "2024-03-08": 99.0, "2024-03-11": 101.5, "2024-03-12": 103.0})
    )
    prices = BarSourcePrices(source)
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert source.calls == [(["SPY"], AS_OF, date(2024, 3, 18))]  # after + 10 days
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert len(source.calls) == 1  # a known open is cached


def test_bar_source_prices_unsorted_frame() -> None:
    source = FakeSource(bars({"2024-03-12": 103.0, "2024-03-11": 101.5, "2024-03-08": 99.0}))
    assert open_of(BarSourcePrices(source).next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_none_until_the_open_arrives() -> None:
    source = FakeSource(bars({"2024-03-08": 99.0}))
    prices = BarSourcePrices(source)
    assert open_of(prices.next_bar("SPY", AS_OF)) is None
    source.frame = bars({"2024-03-08": 99.0, "2024-03-11": 101.5})  # Monday's bar arrives
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert len(source.calls) == 2  # "not yet" is not cached


def test_bar_source_prices_unknown_symbol_is_none() -> None:
    prices = BarSourcePrices(FakeSource(bars({"2024-03-11": 101.5})))
    assert open_of(prices.next_bar("QQQ", AS_OF)) is None


def test_bar_source_prices_never_asks_past_today() -> None:
    # a generated source has "future" bars: with a clock, nothing after today is requested or used
    source = FakeSource(bars({"2024-03-08": 99.0, "2024-03-11": 101.5}))
    clock = FixedClock(datetime(2024, 3, 10, 12, tzinfo=UTC))  # Sunday
    prices = BarSourcePrices(source, clock=clock)
    assert open_of(prices.next_bar("SPY", AS_OF)) is None
    assert source.calls[-1][2] == date(2024, 3, 10)
    clock.advance(24 * 3600)  # Monday
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_same_day_clock_makes_no_request() -> None:
    source = FakeSource(bars({"2024-03-11": 101.5}))
    prices = BarSourcePrices(source, clock=FixedClock(datetime(2024, 3, 8, 22, tzinfo=UTC)))
    assert open_of(prices.next_bar("SPY", AS_OF)) is None
    assert source.calls == []


def test_bar_source_prices_bad_open_is_refused_by_the_broker() -> None:
    source = FakeSource(bars({"2024-03-11": float("nan")}))
    with pytest.raises(DataQualityError):
        PaperBroker(BarSourcePrices(source), 0.0, 0.0).execute(make_order())


def test_bar_source_prices_does_not_cache_todays_bar() -> None:
    # today's bar may still be forming (its high and low can still move): asked again next time
    source = FakeSource(bars({"2024-03-08": 99.0, "2024-03-11": 101.5}))
    prices = BarSourcePrices(source, clock=FixedClock(datetime(2024, 3, 11, 15, tzinfo=UTC)))
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert len(source.calls) == 2


def test_bar_source_prices_drive_the_broker() -> None:
    # the decision session's close is the one the order was sized on (100): no restatement
    source = FakeSource(bars({"2024-03-08": 100.0, "2024-03-11": 101.5}))
    fill = filled(
        PaperBroker(BarSourcePrices(source), commission_rate=0.0, slippage_bps=0).execute(make_order())
    )
    assert (fill.session, fill.price) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_accepts_the_real_protocol_shape() -> None:
    from tradebot.data import LoadResult

    class Source:
        def load(self, symbols: list[str], start: date | None, end: date) -> LoadResult:
            return LoadResult(frames={"SPY": bars({"2024-03-11": 101.5})}, failures={})

    assert open_of(BarSourcePrices(Source()).next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)


# --- a split between the decision and the fill (issue 10 §4) --------------------------------------------


def test_a_restated_decision_close_is_a_split_to_apply_first() -> None:
    # the order was sized on FRI's close of 100; the source now has FRI at 25 (4:1), MON opens at 25.2
    source = FakeSource(bars({"2024-03-08": 25.0, "2024-03-11": 25.2}))
    clock = FixedClock(datetime(2024, 3, 11, 15, tzinfo=UTC))  # MON 11:00 New York
    execution = PaperBroker(BarSourcePrices(source, clock=clock), 0.0, 0.0, clock=clock).execute(make_order())
    assert execution.status is ExecutionStatus.SPLIT and execution.fill is None
    split = execution.split
    assert split is not None
    assert (split.symbol, split.text, split.reference_session, split.known_close, split.restated_close) == (
        "SPY",
        "4:1",
        AS_OF,
        100.0,
        25.0,
    )
    assert split.ex_date == date(2024, 3, 11)  # the latest session it can have taken effect on: today
    # an executor that gets to the order later dates it later (never before a close it may have seen)
    late = FixedClock(datetime(2024, 3, 12, 15, tzinfo=UTC))
    source_late = FakeSource(bars({"2024-03-08": 25.0, "2024-03-11": 25.2, "2024-03-12": 25.4}))
    again = PaperBroker(BarSourcePrices(source_late, clock=late), 0.0, 0.0, clock=late).execute(make_order())
    assert again.split is not None and again.split.ex_date == date(2024, 3, 12)


def test_a_restated_decision_close_no_split_explains_is_rejected() -> None:
    source = FakeSource(bars({"2024-03-08": 61.3, "2024-03-11": 61.5}))
    execution = PaperBroker(BarSourcePrices(source), 0.0, 0.0).execute(make_order())
    assert execution.status is ExecutionStatus.REJECTED
    assert "which no split ratio explains: not filled at a price the decision never saw" in execution.reason


def test_the_decision_close_comes_from_the_same_data_as_the_fill_bar() -> None:
    source = FakeSource(bars({"2024-03-08": 100.0, "2024-03-11": 101.5}))
    prices = BarSourcePrices(source)
    assert prices.close_on("SPY", AS_OF) == 100.0
    assert len(source.calls) == 1  # one load answers both
    # the source restates FRI afterwards: the cached bar and its close stay one consistent pair
    source.frame = bars({"2024-03-08": 25.0, "2024-03-11": 25.4})
    assert open_of(prices.next_bar("SPY", AS_OF)) == (date(2024, 3, 11), 101.5)
    assert prices.close_on("SPY", AS_OF) == 100.0
    # no bar of the decision session: nothing to compare, the order fills
    assert BarSourcePrices(FakeSource(bars({"2024-03-11": 101.5}))).close_on("SPY", AS_OF) is None
