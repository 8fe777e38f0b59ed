"""The paper broker and its price source: next-open fills, slippage, commission, never look-ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tradebot.clock import FixedClock
from tradebot.errors import DataQualityError
from tradebot.execution.broker import PaperBroker
from tradebot.execution.prices import BarSourcePrices
from tradebot.models import Order, order_id_for

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
    def __init__(self, quotes: dict[str, list[tuple[date, float]]]) -> None:
        self.quotes = quotes
        self.calls: list[tuple[str, date]] = []

    def next_open(self, symbol: str, after: date) -> tuple[date, float] | None:
        self.calls.append((symbol, after))
        return next(((d, p) for d, p in sorted(self.quotes.get(symbol, [])) if d > after), None)


def test_buy_fills_at_next_open_plus_slippage_with_commission() -> None:
    prices = FakePrices(
        {"SPY": [(date(2024, 3, 8), 99.0), (date(2024, 3, 11), 100.0), (date(2024, 3, 12), 120.0)]}
    )
    fill = PaperBroker(prices, commission_rate=0.001, slippage_bps=10).execute(make_order("BUY", 10))
    assert fill is not None
    assert fill.session == date(2024, 3, 11)
    assert fill.price == pytest.approx(100.0 * 1.001)
    assert fill.commission == pytest.approx(0.001 * 10 * 100.0 * 1.001)
    assert (fill.order_id, fill.symbol, fill.side, fill.quantity) == (make_order().order_id, "SPY", "BUY", 10)
    assert prices.calls == [("SPY", AS_OF)]


def test_sell_fills_at_next_open_minus_slippage() -> None:
    prices = FakePrices({"SPY": [(date(2024, 3, 11), 50.0)]})
    fill = PaperBroker(prices, commission_rate=0.0, slippage_bps=20).execute(make_order("SELL", 3))
    assert fill is not None
    assert fill.price == pytest.approx(50.0 * 0.998)
    assert fill.commission == 0.0


def test_no_price_yet_returns_none() -> None:
    prices = FakePrices({"SPY": [(AS_OF, 99.0)]})  # only the decision bar: the next open is unknown
    assert PaperBroker(prices, commission_rate=0.001, slippage_bps=5).execute(make_order()) is None


class LookAheadPrices:
    def next_open(self, symbol: str, after: date) -> tuple[date, float] | None:
        return (after, 100.0)  # a buggy source: the decision session's own open


def test_a_price_from_the_decision_session_is_refused() -> None:
    with pytest.raises(DataQualityError, match="later session"):
        PaperBroker(LookAheadPrices(), commission_rate=0.0, slippage_bps=0).execute(make_order())


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_open_is_a_data_quality_error(bad: float) -> None:
    prices = FakePrices({"SPY": [(date(2024, 3, 11), bad)]})
    with pytest.raises(DataQualityError):
        PaperBroker(prices, commission_rate=0.0, slippage_bps=0).execute(make_order())


@pytest.mark.parametrize(("rate", "bps"), [(-0.1, 0), (1.0, 0), (0.0, -1), (0.0, 10_000)])
def test_bad_broker_parameters(rate: float, bps: float) -> None:
    with pytest.raises(ValueError):
        PaperBroker(FakePrices({}), commission_rate=rate, slippage_bps=bps)


# --- BarSourcePrices -------------------------------------------------------------------------------------


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
    assert prices.next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)
    assert source.calls == [(["SPY"], AS_OF, date(2024, 3, 18))]  # after + 10 days
    assert prices.next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)
    assert len(source.calls) == 1  # a known open is cached


def test_bar_source_prices_unsorted_frame() -> None:
    source = FakeSource(bars({"2024-03-12": 103.0, "2024-03-11": 101.5, "2024-03-08": 99.0}))
    assert BarSourcePrices(source).next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_none_until_the_open_arrives() -> None:
    source = FakeSource(bars({"2024-03-08": 99.0}))
    prices = BarSourcePrices(source)
    assert prices.next_open("SPY", AS_OF) is None
    source.frame = bars({"2024-03-08": 99.0, "2024-03-11": 101.5})  # Monday's bar arrives
    assert prices.next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)
    assert len(source.calls) == 2  # "not yet" is not cached


def test_bar_source_prices_unknown_symbol_is_none() -> None:
    prices = BarSourcePrices(FakeSource(bars({"2024-03-11": 101.5})))
    assert prices.next_open("QQQ", AS_OF) is None


def test_bar_source_prices_never_asks_past_today() -> None:
    # a generated source has "future" bars: with a clock, nothing after today is requested or used
    source = FakeSource(bars({"2024-03-08": 99.0, "2024-03-11": 101.5}))
    clock = FixedClock(datetime(2024, 3, 10, 12, tzinfo=UTC))  # Sunday
    prices = BarSourcePrices(source, clock=clock)
    assert prices.next_open("SPY", AS_OF) is None
    assert source.calls[-1][2] == date(2024, 3, 10)
    clock.advance(24 * 3600)  # Monday
    assert prices.next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_same_day_clock_makes_no_request() -> None:
    source = FakeSource(bars({"2024-03-11": 101.5}))
    prices = BarSourcePrices(source, clock=FixedClock(datetime(2024, 3, 8, 22, tzinfo=UTC)))
    assert prices.next_open("SPY", AS_OF) is None
    assert source.calls == []


def test_bar_source_prices_bad_open() -> None:
    source = FakeSource(bars({"2024-03-11": float("nan")}))
    with pytest.raises(DataQualityError):
        BarSourcePrices(source).next_open("SPY", AS_OF)


def test_bar_source_prices_drive_the_broker() -> None:
    source = FakeSource(bars({"2024-03-08": 99.0, "2024-03-11": 101.5}))
    fill = PaperBroker(BarSourcePrices(source), commission_rate=0.0, slippage_bps=0).execute(make_order())
    assert fill is not None
    assert (fill.session, fill.price) == (date(2024, 3, 11), 101.5)


def test_bar_source_prices_accepts_the_real_protocol_shape() -> None:
    from tradebot.data import LoadResult

    class Source:
        def load(self, symbols: list[str], start: date | None, end: date) -> LoadResult:
            return LoadResult(frames={"SPY": bars({"2024-03-11": 101.5})}, failures={})

    assert BarSourcePrices(Source()).next_open("SPY", AS_OF) == (date(2024, 3, 11), 101.5)
