"""Issue 10 §4, the pure rules (tradebot.trading.corporate_actions): which restatement of a close is a
split, and what a split does to a position and to a pending order. Examples with the issue's values and
property tests (hypothesis) over prices, quantities and every listed ratio."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.contracts import Order, Signal, SplitEvent, order_id_for
from tradebot.trading.account import Decision, SplitRecord
from tradebot.trading.corporate_actions import (
    CORRECTION_TOLERANCE,
    SPLIT_RATIOS,
    SPLIT_TOLERANCE,
    UNCHANGED_TOLERANCE,
    CloseChange,
    compare_closes,
    event_ratio,
    parse_ratio,
    ratio_text,
    recorded_factor,
    review_closes,
    split_order,
    split_position,
    split_ratio,
)

FRI, MON, TUE = date(2024, 3, 8), date(2024, 3, 11), date(2024, 3, 12)
NOW = datetime(2024, 3, 11, 21, tzinfo=UTC)

ratios = st.sampled_from(SPLIT_RATIOS)
prices = st.floats(min_value=1.0, max_value=5_000.0, allow_nan=False, allow_infinity=False)


# --- classification ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "restated", "ratio"),
    [
        (100.0, 50.0, Fraction(2)),
        (300.0, 100.0, Fraction(3)),
        (499.52, 124.88, Fraction(4)),  # a 4:1 split of SPY's 2024-04-18 close
        (1000.0, 100.0, Fraction(10)),
        (150.0, 100.0, Fraction(3, 2)),
        (2.5, 25.0, Fraction(1, 10)),  # a 1:10 reverse split
        (100.0, 25.03, Fraction(4)),  # the restated close rounded by the vendor: still 4:1
    ],
)
def test_split_ratios_of_the_issue(known: float, restated: float, ratio: Fraction) -> None:
    assert split_ratio(known, restated) == ratio
    assert compare_closes(known, restated).change is CloseChange.SPLIT


@pytest.mark.parametrize(
    ("known", "restated", "change"),
    [
        (499.52, 499.52, CloseChange.UNCHANGED),
        (499.52, 499.52 * (1 + 1e-9), CloseChange.UNCHANGED),  # float noise
        (499.52, 500.01, CloseChange.CORRECTED),  # the vendor's correction of the bar (0.1%)
        (100.0, 61.3, CloseChange.UNEXPLAINED),  # x0.613: 5:3 would be 60, 3:2 66.67
        (
            100.0,
            90.0,
            CloseChange.UNEXPLAINED,
        ),  # 10:9 is not a listed ratio: a 10% restatement is not a split
        (100.0, 72.99, CloseChange.UNEXPLAINED),  # x1/1.37
        (100.0, 101.0, CloseChange.UNEXPLAINED),  # 1%: beyond a correction, no split that close to 1
    ],
)
def test_what_is_not_a_split(known: float, restated: float, change: CloseChange) -> None:
    assert compare_closes(known, restated).change is change
    assert split_ratio(known, restated) is None


def test_the_sources_event_ratio_is_preferred_and_may_be_any_ratio() -> None:
    # a 21:20 stock dividend: no listed ratio explains x1/1.05, the event does
    assert compare_closes(100.0, 95.24).change is CloseChange.UNEXPLAINED
    comparison = compare_closes(100.0, 95.24, Fraction(21, 20))
    assert (comparison.change, comparison.ratio, comparison.from_event) == (
        CloseChange.SPLIT,
        Fraction(21, 20),
        True,
    )
    # an event the prices do not show is not applied from them
    assert compare_closes(100.0, 100.0, Fraction(4)).change is CloseChange.UNCHANGED
    assert (
        event_ratio(4.0) == 4 and event_ratio(0.1) == Fraction(1, 10) and event_ratio(1.5) == Fraction(3, 2)
    )
    assert event_ratio(1 / 15) == Fraction(1, 15)


def test_bad_prices_are_refused() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            compare_closes(100.0, bad)
        with pytest.raises(ValueError):
            compare_closes(bad, 100.0)


def test_the_listed_ratios_are_far_enough_apart_to_be_told_apart() -> None:
    ordered = sorted(float(r) for r in SPLIT_RATIOS)
    assert min(b / a for a, b in itertools.pairwise(ordered)) > (1 + SPLIT_TOLERANCE) ** 2
    # and the nearest to 1 is far beyond a correction
    assert min(abs(math.log(float(r))) for r in SPLIT_RATIOS) > math.log(1.2)
    assert [ratio_text(r) for r in (Fraction(4), Fraction(1, 10), Fraction(3, 2))] == ["4:1", "1:10", "3:2"]
    assert all(parse_ratio(ratio_text(r)) == r for r in SPLIT_RATIOS)


@settings(max_examples=300, deadline=None)
@given(known=prices, ratio=ratios)
def test_property_a_restated_close_rounded_to_cents_is_its_split(known: float, ratio: Fraction) -> None:
    restated = round(known / float(ratio), 2)
    if restated < 2.0:  # a cent is more than the tolerance below $2
        return
    comparison = compare_closes(known, restated)
    assert (comparison.change, comparison.ratio) == (CloseChange.SPLIT, ratio)


@settings(max_examples=300, deadline=None)
@given(known=prices, noise=st.floats(min_value=-UNCHANGED_TOLERANCE / 2, max_value=UNCHANGED_TOLERANCE / 2))
def test_property_float_noise_never_trips_anything(known: float, noise: float) -> None:
    assert compare_closes(known, known * (1 + noise)).change is CloseChange.UNCHANGED


@settings(max_examples=500, deadline=None)
@given(known=prices, factor=st.floats(min_value=0.005, max_value=200.0))
def test_property_the_classification_is_what_the_tolerances_say(known: float, factor: float) -> None:
    comparison = compare_closes(known, known / factor)
    observed = comparison.observed
    if comparison.change is CloseChange.SPLIT:
        assert comparison.ratio is not None and abs(observed / float(comparison.ratio) - 1) <= SPLIT_TOLERANCE
    elif comparison.change is CloseChange.UNEXPLAINED:
        assert abs(observed - 1) > CORRECTION_TOLERANCE
        assert all(abs(observed / float(r) - 1) > SPLIT_TOLERANCE for r in SPLIT_RATIOS)
    else:
        assert abs(observed - 1) <= CORRECTION_TOLERANCE


# --- applying a split -------------------------------------------------------------------------------------


def test_a_4_to_1_split_of_a_position() -> None:
    after = split_position(20, 100.0, Fraction(4), 25.0)
    assert (after.quantity, after.avg_price, after.cash_in_lieu, after.fraction) == (80, 25.0, 0.0, 0)


def test_a_reverse_split_pays_the_fraction_in_cash() -> None:
    after = split_position(105, 10.0, Fraction(1, 10), 100.0)  # 10.5 shares: 10, and 0.5 x 100 in cash
    assert (after.quantity, after.avg_price, after.cash_in_lieu) == (10, 100.0, 50.0)
    after = split_position(101, 30.0, Fraction(3, 2), 20.0)  # 151.5 shares: 151, and 0.5 x 20
    assert (after.quantity, after.avg_price, after.cash_in_lieu) == (151, 20.0, 10.0)


@settings(max_examples=300, deadline=None)
@given(quantity=st.integers(0, 100_000), avg=prices, close=prices, ratio=ratios)
def test_property_a_split_keeps_the_value_and_the_cost_basis(
    quantity: int, avg: float, close: float, ratio: Fraction
) -> None:
    restated = close / float(ratio)
    after = split_position(quantity, avg, ratio, restated)
    assert after.quantity == math.floor(quantity * ratio) and 0 <= after.fraction < 1
    # the shares' value at the restated close plus the cash equals the old shares at the old close
    assert after.quantity * restated + after.cash_in_lieu == pytest.approx(
        quantity * close, abs=0.006, rel=1e-9
    )
    # the cost basis of the shares kept is unchanged (the fraction's went with the cash)
    assert after.avg_price * float(quantity * ratio) == pytest.approx(avg * quantity, rel=1e-9)


def order(side: str = "BUY", quantity: int = 10, limit: float | None = None) -> Order:
    return Order(
        order_id=order_id_for("paper", FRI, "SPY", side),
        run_id="run-1",
        account="paper",
        as_of=FRI,
        symbol="SPY",
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        order_type="MARKET" if limit is None else "LIMIT",
        limit_price=limit,
        reference_price=100.0,
        synthetic=True,
        created_at=NOW,
    )


def test_a_pending_order_after_a_split() -> None:
    amended = split_order(order("BUY", 10, limit=100.51), Fraction(4))
    assert amended is not None
    assert (amended.quantity, amended.reference_price, amended.limit_price) == (40, 25.0, 25.12)
    sell = split_order(order("SELL", 10, limit=99.49), Fraction(4))
    assert sell is not None and sell.limit_price == 24.88  # 24.8725 up: never a worse price
    assert split_order(order("BUY", 3), Fraction(1, 10)) is None  # 0.3 shares: cancelled
    reverse = split_order(order("SELL", 105), Fraction(1, 10))
    assert reverse is not None and (reverse.quantity, reverse.reference_price) == (10, 1000.0)
    assert amended.order_id == order().order_id  # the same order


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    quantity=st.integers(1, 10_000),
    limit=st.floats(min_value=0.05, max_value=5_000.0),
    ratio=ratios,
)
def test_property_an_order_after_a_split_never_gets_worse(
    side: str, quantity: int, limit: float, ratio: Fraction
) -> None:
    amended = split_order(order(side, quantity, limit=round(limit, 2)), ratio)
    if amended is None:
        assert quantity * ratio < 1
        return
    assert amended.quantity == math.floor(quantity * ratio)
    exact = Fraction(round(limit, 2)) / ratio
    assert amended.limit_price is not None
    # on the tick (cents from $1), never a worse price than the limit in the new units (to float precision)
    tick = 0.01 if exact >= 1 else 0.0001
    assert amended.limit_price / tick == pytest.approx(round(amended.limit_price / tick))
    if side == "BUY":
        assert amended.limit_price <= float(exact) * (1 + 1e-12)
    else:
        assert amended.limit_price >= float(exact) * (1 - 1e-12)
    # a whole position sold before the split is the whole position after it
    assert math.floor(quantity * ratio) == split_position(quantity, 1.0, ratio, 1.0).quantity


# --- which recorded close is compared, and how ----------------------------------------------------------


def record(symbol: str, ex_date: date, ratio: Fraction) -> SplitRecord:
    return SplitRecord(
        account="paper",
        symbol=symbol,
        ex_date=ex_date,
        new_shares=ratio.numerator,
        old_shares=ratio.denominator,
        reference_session=FRI,
        known_close=100.0,
        restated_close=100.0 / float(ratio),
        source="detected",
        shares_before=0,
        shares_after=0,
        avg_price_before=0.0,
        avg_price_after=0.0,
        cash_in_lieu=0.0,
        applied_by="test",
        created_at=NOW,
    )


def signal(symbol: str, close: float, **recent: float) -> Signal:
    return Signal(
        symbol=symbol,
        strategy="sma_crossover",
        params={"fast": 10, "slow": 30},
        target_weight=1.0,
        reason="test",
        close=close,
        bar_date=MON,
        recent_closes={date.fromisoformat(d): c for d, c in recent.items()},
    )


def friday(**closes: float) -> Decision:
    return Decision(
        account="paper", as_of=FRI, run_id="r", equity=1.0, closes=closes, orders=[], created_at=NOW
    )


def test_recorded_splits_convert_the_closes_recorded_before_them() -> None:
    records = [
        record("SPY", MON, Fraction(4)),
        record("SPY", FRI, Fraction(2)),
        record("QQQ", MON, Fraction(3)),
    ]
    assert recorded_factor(records, "SPY", FRI, MON) == 4  # FRI's own split is in FRI's close already
    assert recorded_factor(records, "SPY", date(2024, 3, 7), MON) == 8
    assert recorded_factor(records, "SPY", MON, TUE) == 1


def test_review_of_the_previous_decisions_closes() -> None:
    signals = {
        "SPY": signal("SPY", 25.5, **{"2024-03-08": 25.0}),  # 4:1
        "QQQ": signal("QQQ", 51.0, **{"2024-03-08": 50.0}),  # unchanged
        "IWM": signal("IWM", 20.0, **{"2024-03-07": 20.0}),  # no bar of FRI today: not checked
        "TLT": signal("TLT", 61.0, **{"2024-03-08": 61.3}),  # unexplained
    }
    reference = friday(SPY=100.0, QQQ=50.0, IWM=20.0, TLT=100.0)
    reviews = {r.symbol: r for r in review_closes(sorted(signals), reference, signals, [], [], MON)}
    assert reviews["SPY"].change is CloseChange.SPLIT and reviews["SPY"].ex_date == MON
    assert reviews["QQQ"].change is CloseChange.UNCHANGED
    assert reviews["IWM"].change is None and "not checked for a split" in reviews["IWM"].describe()
    assert reviews["TLT"].change is CloseChange.UNEXPLAINED and reviews["TLT"].known_close == 100.0
    # once applied, the same comparison finds nothing more (the recorded split converts FRI's close)
    again = review_closes(["SPY"], reference, signals, [record("SPY", MON, Fraction(4))], [], MON)
    assert [r.change for r in again] == [CloseChange.UNCHANGED]
    # the source's event gives its ex-date and ratio
    event = SplitEvent(symbol="SPY", ex_date=MON, ratio=4.0)
    (found,) = review_closes(["SPY"], reference, signals, [], [event], TUE)
    assert (found.change, found.ex_date, found.split("paper").from_event) == (CloseChange.SPLIT, MON, True)


def test_a_signals_recent_closes_are_before_its_bar() -> None:
    assert signal("SPY", 25.0, **{"2024-03-08": 25.0, "2024-03-07": 24.0}).previous_bar_date == FRI
    assert signal("SPY", 25.0, **{"2024-03-08": 25.0}).previous_close == 25.0
    assert signal("SPY", 25.0).previous_close is None
    with pytest.raises(ValueError, match="recent_closes"):
        signal("SPY", 25.0, **{"2024-03-11": 25.0})
    with pytest.raises(ValueError):
        signal("SPY", 25.0, **{"2024-03-08": float("nan")})


def test_a_withheld_symbol_has_no_signal() -> None:
    from tradebot.contracts import SignalsDocument, SymbolIssue

    withheld = SymbolIssue(symbol="SPY", reason="possible_split", detail="signal withheld")
    document = SignalsDocument(run_id="r", as_of=MON, signals=[signal("QQQ", 1.0)], withheld=[withheld])
    assert [w.symbol for w in document.withheld] == ["SPY"]
    with pytest.raises(ValueError, match="listed as withheld"):
        SignalsDocument(run_id="r", as_of=MON, signals=[signal("SPY", 1.0)], withheld=[withheld])
