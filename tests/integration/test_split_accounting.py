"""Issue 10 §4 against moto: a split of a held or pending symbol is applied to the account once (the SPLIT
item, the position, the cash in lieu and the pending orders in one transaction), whichever of PaperTrade
and the executor sees it first; an order decided before a split fills after it in the new units; a
restatement no split explains stops the symbol (PaperTrade) or refuses the fill (executor).

Values: a 4:1 split turns a close of 100 into 25 (every earlier price divided by 4); a 1:10 reverse split
turns 10 into 100."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from tests.integration.executor_env import AS_OF, CAPITAL, NEXT, NOW, Env, filled_ids, signal
from tradebot.contracts import Fill, Signal, SignalsDocument, SplitEvent
from tradebot.errors import KillSwitchEngaged
from tradebot.pipeline.trade import Placement, place_orders
from tradebot.store.corporate_actions import SplitOutcome, apply_split, pending_entries
from tradebot.store.settlement import FillOutcome, apply_fill
from tradebot.trading.config import RiskLimits, TradingConfig
from tradebot.trading.corporate_actions import SplitFound

THU, FRI, MON, TUE = date(2024, 3, 7), AS_OF, NEXT, date(2024, 3, 12)


def closes(sig: Signal, **recent: float) -> Signal:
    """``sig`` with the closes today's data has for earlier sessions (``recent``: ISO date -> close)."""
    return sig.model_copy(update={"recent_closes": {date.fromisoformat(d): c for d, c in recent.items()}})


def held_spy(env: Env, quantity: int = 20, price: float = 100.0) -> None:
    """SPY bought on THU's decision, filled at FRI's open at ``price``."""
    env.prices.opens["SPY"] = price
    buy = env.order("BUY", quantity, as_of=THU, reference_price=price)
    env.send(buy)
    assert filled_ids(env.executor().drain()) == [buy.order_id]


def spy_position(env: Env) -> tuple[int, float]:
    position = env.accounts.load("paper", CAPITAL).positions.get("SPY")
    return (0, 0.0) if position is None else (position.quantity, position.avg_price)


# --- the executor sees the split first ---------------------------------------------------------------------


def test_a_buy_decided_before_a_split_fills_after_it_with_the_adjusted_quantity(env: Env) -> None:
    # Given a BUY of 10 SPY sized on FRI's close of 100; a 4:1 split takes effect at MON's open, the fill
    # session: the source now has FRI's close at 25 and MON opens at 25.2
    buy = env.order("BUY", 10)
    env.send(buy)
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.2, 25.0
    # When the executor fills it
    report = env.executor().drain()
    # Then it buys 40 shares at MON's open (never 10 at a price the decision never saw)
    (fill,) = report.filled
    assert (fill.order_id, fill.quantity, fill.price, fill.session) == (buy.order_id, 40, 25.2, NEXT)
    entry = env.ledger.get(buy.order_id)
    assert entry is not None and entry.status == "FILLED" and entry.revision == 1
    (amendment,) = entry.amendments
    assert (amendment.ratio, amendment.quantity_before, amendment.quantity_after) == ("4:1", 10, 40)
    assert (amendment.reference_price_before, amendment.reference_price_after) == (100.0, 25.0)
    # and the split is recorded once, by the executor, with its ratio and session
    (record,) = env.accounts.splits("paper")
    assert report.splits == [record]
    assert (record.symbol, record.ex_date, record.ratio_text, record.reference_session) == (
        "SPY",
        NEXT,
        "4:1",
        FRI,
    )
    assert (record.shares_before, record.shares_after, record.orders_adjusted) == (0, 0, [buy.order_id])
    assert record.applied_by == f"executor (order {buy.order_id})"
    assert spy_position(env) == (40, 25.2)
    env.assert_consistent()


def test_a_sell_of_a_position_held_before_a_split_sells_the_adjusted_shares(env: Env) -> None:
    # Given 20 SPY held (bought at 100), and a SELL of all 20 decided on FRI's close of 100
    held_spy(env, 20, 100.0)
    sell = env.order("SELL", 20)
    env.send(sell)
    # When a 4:1 split takes effect at MON's open, before the sell fills
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.0, 25.0
    report = env.executor().drain()
    # Then the position is split first (80 shares at 25), and the sell sells all 80: nothing is left
    (record,) = report.splits
    assert (record.shares_before, record.shares_after, record.avg_price_after) == (20, 80, 25.0)
    assert [(f.quantity, f.price) for f in report.filled] == [(80, 25.0)]
    assert spy_position(env)[0] == 0
    assert report.rejected == []
    env.assert_consistent()


def test_a_restated_close_no_split_explains_is_never_filled(env: Env) -> None:
    buy = env.order("BUY", 10)
    env.send(buy)
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 61.5, 61.3  # x0.613: no split ratio
    report = env.executor().drain()
    assert report.filled == [] and env.accounts.splits("paper") == []
    ((order_id, reason),) = report.rejected
    assert order_id == buy.order_id
    assert reason == (
        "SPY's close of 2024-03-08 was 100 when the order was sized on it and is 61.3 in today's data "
        "(x0.613), which no split ratio explains: not filled at a price the decision never saw"
    )
    env.assert_consistent()


def test_a_vendor_correction_of_the_decision_close_fills_as_usual(env: Env) -> None:
    buy = env.order("BUY", 10)
    env.send(buy)
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 100.5, 100.3  # +0.3%: a corrected close
    assert [f.quantity for f in env.executor().drain().filled] == [10]
    assert env.accounts.splits("paper") == []
    env.assert_consistent()


def test_a_reverse_split_pays_the_fraction_in_cash_and_cancels_an_order_left_under_one_share(
    env: Env,
) -> None:
    # Given 105 SPY held at 10, a pending BUY of 3 and a SELL of 105 decided on FRI's close of 10
    held_spy(env, 105, 10.0)
    small = env.order("BUY", 3, reference_price=10.0)
    sell = env.order("SELL", 105, reference_price=10.0)
    env.send(small)
    env.send(sell)
    # When a 1:10 reverse split takes effect at MON's open (FRI's close is now 100)
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 101.0, 100.0
    report = env.executor().drain()
    # Then 105 shares become 10 and half a share is paid in cash at the restated close (50.00); the BUY of
    # 3 (0.3 shares) is cancelled with the reason; the SELL sells the 10 shares left
    (record,) = report.splits
    assert (record.ratio_text, record.shares_before, record.shares_after) == ("1:10", 105, 10)
    assert (record.cash_in_lieu, record.avg_price_after) == (50.0, 100.0)
    assert record.orders_cancelled == [small.order_id]
    status, reason = env.status(small)
    assert status == "CANCELLED" and "leaves less than one share of this order (3 x 1:10)" in reason
    assert [(f.order_id, f.quantity, f.price) for f in report.filled] == [(sell.order_id, 10, 101.0)]
    assert spy_position(env)[0] == 0
    env.assert_consistent()


def test_a_fill_computed_before_an_amendment_never_lands(env: Env) -> None:
    buy = env.order("BUY", 10)
    env.send(buy)
    env.prices.opens.clear()
    env.executor().drain()  # accepted, awaiting its open
    entry = env.ledger.get(buy.order_id)
    assert entry is not None and entry.status == "ACCEPTED"
    found = SplitFound("paper", "SPY", NEXT, Fraction(4), FRI, 100.0, 25.0)
    outcome, _ = apply_split(
        env.ddb, found, accounts=env.accounts, ledger=env.ledger, now=NOW, applied_by="t"
    )
    assert outcome is SplitOutcome.APPLIED
    # a fill of the 10 shares read before the split: refused, nothing written
    stale = Fill(
        order_id=buy.order_id,
        symbol="SPY",
        side="BUY",
        quantity=10,
        price=100.0,
        commission=0.0,
        session=NEXT,
    )
    assert (
        apply_fill(env.ddb, buy, stale, ledger=env.ledger, accounts=env.accounts, now=NOW, revision=0)
        is FillOutcome.DUPLICATE
    )
    # the executor fills the order as amended
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.0, 25.0
    assert [f.quantity for f in env.executor().drain().filled] == [40]
    env.assert_consistent()


def test_a_split_is_applied_once_however_often_and_by_whomever_it_is_found(env: Env) -> None:
    held_spy(env, 20, 100.0)
    found = SplitFound("paper", "SPY", MON, Fraction(4), FRI, 100.0, 25.0)
    first = apply_split(env.ddb, found, accounts=env.accounts, ledger=env.ledger, now=NOW, applied_by="a")
    second = apply_split(env.ddb, found, accounts=env.accounts, ledger=env.ledger, now=NOW, applied_by="b")
    assert (first[0], second[0]) == (SplitOutcome.APPLIED, SplitOutcome.ALREADY_APPLIED)
    assert second[1] == first[1] and len(env.accounts.splits("paper")) == 1
    assert spy_position(env) == (80, 25.0)
    # an order recorded after the split (decided before it) is amended for it alone: no second split
    late = env.order("SELL", 20)
    env.send(late)
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.0, 25.0
    report = env.executor().drain()
    assert report.splits == [] and [f.quantity for f in report.filled] == [80]
    assert len(env.accounts.splits("paper")) == 1 and spy_position(env)[0] == 0
    env.assert_consistent()


# --- PaperTrade sees the split first -----------------------------------------------------------------------


def hold_through_friday(env: Env, *others: Signal) -> None:
    """THU's decision buys SPY (20% of 10,000 at 100: 20 shares) and ``others``, filled at FRI's open;
    FRI's decision, at the same closes, keeps them (orders under 500 are dropped)."""
    risk = RiskLimits(initial_capital=CAPITAL, min_order_value=500.0, max_position_weight=0.2)
    env.config.save(TradingConfig(risk=risk))
    env.place([signal("SPY", 1.0, 100.0, THU), *others], as_of=THU)
    env.executor().drain()
    assert spy_position(env) == (20, 100.0)
    assert env.place([signal("SPY", 1.0, 100.0), *others], as_of=FRI, previous_session=THU).orders == []


def place(env: Env, signals: list[Signal], *, splits: list[SplitEvent] | None = None) -> Placement:
    """MON's decision (the previous session: FRI) on ``signals``, with the source's split events."""
    document = SignalsDocument(run_id="run-2", as_of=MON, signals=signals, splits=splits or [])
    placement = place_orders(
        document,
        synthetic=True,
        config=env.config.load(),
        account="paper",
        accounts=env.accounts,
        ledger=env.ledger,
        send=env.send_orders,
        now=NOW,
        previous_session=FRI,
    )
    env.orders.extend(o for o in placement.orders if o.order_id not in {x.order_id for x in env.orders})
    return placement


def test_a_split_of_a_held_position_is_not_a_loss_and_does_not_halt(env: Env) -> None:
    hold_through_friday(env)
    cash = env.accounts.load("paper", CAPITAL).cash
    # When MON's data is restated by a 4:1 split effective MON: FRI's close is now 25, MON closes at 25.5
    placed = place(env, [closes(signal("SPY", 1.0, 25.5, MON), **{"2024-03-08": 25.0})])
    # Then 80 shares at 25, equity up 2% (not down 75%), no halt
    assert env.accounts.halt("paper") is None
    assert spy_position(env) == (80, 25.0)
    decision = placed.decision
    assert decision.equity == pytest.approx(cash + 80 * 25.5)
    (record,) = decision.corporate_actions
    assert (record.ex_date, record.ratio_text, record.source, record.applied_by) == (
        MON,
        "4:1",
        "detected",
        "PaperTrade (run run-2)",
    )
    assert (record.reference_session, record.known_close, record.restated_close) == (FRI, 100.0, 25.0)
    assert any(n.startswith("SPY: 4:1 split applied (ex-date 2024-03-11") for n in decision.notes)
    # a retried step or a re-run changes nothing
    assert place(env, [closes(signal("SPY", 1.0, 25.5, MON), **{"2024-03-08": 25.0})]).already_decided
    assert len(env.accounts.splits("paper")) == 1 and spy_position(env) == (80, 25.0)
    # its orders (none here) are in the new units; the executor adds no second split
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.5, 25.5
    env.executor().drain()
    assert len(env.accounts.splits("paper")) == 1
    env.assert_consistent()


def test_without_the_restated_closes_the_same_day_would_halt_the_account(env: Env) -> None:
    """What the fault was: the old share count marked at the new prices (20 x 25.5 instead of 80 x 25.5)."""
    hold_through_friday(env)
    with pytest.raises(KillSwitchEngaged, match="daily loss limit: equity fell 14"):
        place(env, [signal("SPY", 1.0, 25.5, MON)])


def test_pending_orders_are_adjusted_with_the_position_and_filled_in_the_new_units(env: Env) -> None:
    # Given FRI's BUY of 20 SPY, still waiting for its open when MON's data shows a 4:1 split
    env.prices.opens.clear()
    friday = env.place([signal("SPY", 1.0, 100.0)], as_of=FRI)
    (buy,) = friday.orders
    env.executor().drain()
    # When MON is decided on the restated data
    place(env, [closes(signal("SPY", 1.0, 25.0, MON), **{"2024-03-08": 25.0})])
    # Then the pending order is 80 shares sized on 25 (recorded in the ledger), and fills as such
    (entry,) = pending_entries(env.ledger, "paper", "SPY")
    assert (entry.order.order_id, entry.order.quantity, entry.order.reference_price) == (
        buy.order_id,
        80,
        25.0,
    )
    assert env.accounts.splits("paper")[0].orders_adjusted == [buy.order_id]
    env.prices.opens["SPY"], env.prices.closes["SPY"] = 25.0, 25.0
    report = env.executor().drain()
    assert [(f.order_id, f.quantity) for f in report.filled] == [(buy.order_id, 80)]
    assert report.splits == [] and len(env.accounts.splits("paper")) == 1
    env.assert_consistent()


def test_the_sources_split_event_gives_the_exact_ratio(env: Env) -> None:
    # a 21:20 stock dividend is no listed split ratio (it would stop the symbol); the source's event
    # explains it, with its exact ratio
    hold_through_friday(env)
    restated = closes(signal("SPY", 1.0, 95.3, MON), **{"2024-03-08": round(100 / 1.05, 2)})
    place(env, [restated], splits=[SplitEvent(symbol="SPY", ex_date=MON, ratio=1.05)])
    (record,) = env.accounts.splits("paper")
    assert (record.ratio_text, record.source, record.shares_after) == ("21:20", "event", 21)
    assert env.accounts.halt("paper") is None and env.accounts.symbol_halts("paper") == {}


def test_a_restatement_no_split_explains_stops_the_symbol_and_books_nothing(env: Env) -> None:
    # Given SPY (20 at 100) and QQQ (40 at 50) held
    hold_through_friday(env, signal("QQQ", 1.0, 50.0, THU))
    queued = env.order("BUY", 1, as_of=FRI)  # an order of SPY still queued
    env.send(queued)
    cash = env.accounts.load("paper", CAPITAL).cash
    # When MON's data restates SPY's FRI close from 100 to 61.3 (x0.613) and SPY closes at 61
    monday = [
        closes(signal("SPY", 1.0, 61.0, MON), **{"2024-03-08": 61.3}),
        closes(signal("QQQ", 1.0, 51.0, MON), **{"2024-03-08": 50.0}),
    ]
    placed = place(env, monday)
    # Then SPY is stopped (not the account), no order of it is placed, it is marked at 100, not 61
    assert env.accounts.halt("paper") is None
    halt = env.accounts.symbol_halt("paper", "SPY")
    assert halt is not None and halt.mark == 100.0 and "which no split ratio explains" in halt.reason
    assert all(o.symbol != "SPY" for o in placed.orders)
    assert placed.decision.marks == {"SPY": 100.0} and "SPY" not in placed.decision.closes
    assert placed.decision.equity == pytest.approx(cash + 20 * 100.0 + 40 * 51.0)
    assert any(n.startswith("SPY: STOPPED") for n in placed.notes)
    # the executor refuses the queued SPY order with the reason (the one trading gate)
    report = env.executor().drain()
    assert (queued.order_id, f"SPY stopped since {MON}: {halt.reason}") in report.rejected
    # the next session it is still stopped and still marked at 100
    tuesday = [
        closes(signal("SPY", 1.0, 62.0, TUE), **{"2024-03-11": 61.0}),
        signal("QQQ", 1.0, 51.0, TUE),
    ]
    later = env.place(tuesday, as_of=TUE, previous_session=MON)
    assert later.decision.marks == {"SPY": 100.0} and all(o.symbol != "SPY" for o in later.orders)
    assert any(n.startswith(f"SPY: not traded: stopped since {MON}") for n in later.notes)
    # until an operator lifts it
    assert [h.symbol for h in env.accounts.clear_symbol_halts("paper")] == ["SPY"]
    assert env.accounts.symbol_halts("paper") == {}
    env.executor().drain()
    env.assert_consistent()


def test_a_split_the_source_restates_a_day_late_is_still_applied(env: Env) -> None:
    """Yahoo sometimes adjusts the history a day after the ex-date: on the ex-date the raw close drops 75%
    (GenerateSignals withholds the symbol: possible_split), the next day the history is restated."""
    hold_through_friday(env)
    # MON: SPY's signal withheld; it stays held, marked at FRI's close, no loss, no halt
    monday = place(env, [])
    assert monday.decision.marks == {"SPY": 100.0} and env.accounts.halt("paper") is None
    # TUE: the history is restated (FRI 25, MON 25.2): MON recorded no close of SPY, FRI's is compared
    tuesday = [closes(signal("SPY", 1.0, 25.5, TUE), **{"2024-03-08": 25.0, "2024-03-11": 25.2})]
    env.place(tuesday, as_of=TUE, previous_session=MON)
    (record,) = env.accounts.splits("paper")
    assert (record.reference_session, record.ratio_text, record.shares_after) == (FRI, "4:1", 80)
    assert env.accounts.halt("paper") is None and spy_position(env) == (80, 25.0)
