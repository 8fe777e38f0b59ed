"""PaperTrade's core (tradebot.execution.placement) against moto: one decision per account and session,
the kill switch and the halt, the daily loss limit, pending orders, limit orders."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.integration.executor_env import AS_OF, CAPITAL, CONFIG, NEXT, Env, filled_ids, signal
from tradebot.contracts import Order
from tradebot.errors import ConfigurationError, InputValidationError, KillSwitchEngaged
from tradebot.execution.broker import SessionBar
from tradebot.store.ledger import OrderLedger
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.account import Halt
from tradebot.trading.config import ExecutionSettings, RiskLimits, TradingConfig

MON, TUE, WED = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
SIGNALS = [signal("SPY", 1.0, 100.0), signal("QQQ", 1.0, 50.0), signal("IWM", 0.0, 20.0)]


def table_items(env: Env) -> dict[str, Any]:
    return {name: env.ddb.scan(TableName=name)["Items"] for name in ("LedgerTable", "StateTable", CONFIG)}


def messages_in_queue(env: Env) -> int:
    visible, in_flight = env.queue_counts()
    return visible + in_flight


def test_a_decision_records_its_orders_then_sends_them(env: Env) -> None:
    result = env.place(SIGNALS)
    # 20% of 10,000 per position: 20 SPY at 100, 40 QQQ at 50; IWM flat and not held: no order. Buys in
    # ranking order: neither is held nor scored, so by symbol
    assert [(o.symbol, o.side, o.quantity) for o in result.orders] == [("QQQ", "BUY", 40), ("SPY", "BUY", 20)]
    assert (result.sent, result.already_recorded, result.already_decided) == (2, 0, False)
    assert [env.status(o) for o in result.orders] == [("NEW", "")] * 2
    assert messages_in_queue(env) == 2
    decision = env.accounts.decision("paper", AS_OF)
    assert decision is not None
    assert (decision.run_id, decision.equity, decision.orders) == ("run-1", CAPITAL, result.orders)
    # closes of what the account holds, has pending or orders: bounded by the account, not the universe
    assert decision.closes == {"SPY": 100.0, "QQQ": 50.0}
    env.executor().drain()
    env.assert_consistent()


def test_a_rerun_of_the_same_session_places_nothing_new_and_fills_nothing_twice(env: Env) -> None:
    first = env.place(SIGNALS)
    env.executor().drain()
    cash_after = env.accounts.load("paper", CAPITAL).cash
    # the same day again, from another run, even with other signals
    again = env.place([signal("SPY", 1.0, 90.0), signal("TLT", 1.0, 10.0)], run_id="run-2")
    assert again.already_decided is True
    assert again.orders == first.orders and again.sent == 0 and again.already_recorded == 2
    assert messages_in_queue(env) == 0
    report = env.executor().drain()
    assert (report.received, report.filled) == (0, [])
    assert env.accounts.load("paper", CAPITAL).cash == cash_after
    env.assert_consistent()


def test_a_retried_step_resends_the_orders_still_new(env: Env) -> None:
    """PaperTrade retried before the executor consumed anything: all its orders are sent twice."""
    first = env.place(SIGNALS)
    second = env.place(SIGNALS)
    assert (second.sent, second.already_recorded) == (2, 2)
    assert [o.order_id for o in env.sent] == [o.order_id for o in first.orders] * 2
    report = env.executor().drain()
    assert sorted(filled_ids(report)) == sorted(o.order_id for o in first.orders)
    env.assert_consistent()


class CrashAfter:
    """A ledger whose record_new dies after ``n`` successful calls (the Lambda timed out, say)."""

    def __init__(self, ledger: OrderLedger, n: int) -> None:
        self._ledger = ledger
        self._left = n

    def record_new(self, order: Order, now: Any) -> bool:
        if self._left == 0:
            raise TimeoutError("Lambda timed out")
        self._left -= 1
        return self._ledger.record_new(order, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def test_a_crash_between_the_decision_and_its_orders_is_repaired_by_the_retry(env: Env) -> None:
    with pytest.raises(TimeoutError):
        env.place(SIGNALS, ledger=CrashAfter(env.ledger, 1))
    assert messages_in_queue(env) == 0  # nothing was sent
    retried = env.place(SIGNALS)
    assert (retried.already_decided, retried.already_recorded, retried.sent) == (True, 1, 2)
    env.executor().drain()
    env.assert_consistent()


def test_a_crash_while_sending_is_repaired_by_the_retry(env: Env) -> None:
    def broken_send(orders: list[Order]) -> None:
        raise ConnectionError("sqs unreachable")

    with pytest.raises(ConnectionError):
        env.place(SIGNALS, send=broken_send)
    retried = env.place(SIGNALS)
    assert retried.sent == 2
    assert len(filled_ids(env.executor().drain())) == 2
    env.assert_consistent()


def test_an_earlier_session_than_the_latest_decision_is_refused(env: Env) -> None:
    env.place(SIGNALS, as_of=TUE)
    before = table_items(env)
    with pytest.raises(InputValidationError, match="already traded on 2024-03-05"):
        env.place(SIGNALS, as_of=MON)
    assert table_items(env) == before


@pytest.mark.parametrize("halted", [False, True])
def test_kill_switch_and_halt_stop_placement_before_anything_is_written(env: Env, halted: bool) -> None:
    if halted:
        env.accounts.set_halt(Halt(account="paper", reason="test", as_of=MON, created_at=env.clock.now()))
    else:
        env.config.set_kill_switch(True, "operator")
    before = table_items(env)
    with pytest.raises(KillSwitchEngaged, match="test" if halted else "operator"):
        env.place(SIGNALS)
    assert table_items(env) == before
    assert messages_in_queue(env) == 0


def test_the_daily_loss_limit_halts_placement_and_the_executor(env: Env) -> None:
    # Monday: buy SPY and QQQ (filled at 100 and 50)
    env.place(SIGNALS, as_of=MON)
    env.executor().drain()
    monday = env.accounts.decision("paper", MON)
    assert monday is not None
    # an order queued before the loss is known
    queued = env.order("BUY", 1, "IWM")
    env.send(queued)
    # Tuesday's close: both positions down 30% -> equity down 12%, more than the 5% limit
    tuesday = [signal("SPY", 1.0, 70.0), signal("QQQ", 1.0, 35.0), signal("IWM", 0.0, 20.0)]
    with pytest.raises(KillSwitchEngaged, match="daily loss limit: equity fell 12"):
        env.place(tuesday, as_of=TUE, previous_session=MON)
    halt = env.accounts.halt("paper")
    assert halt is not None and halt.as_of == TUE
    assert env.accounts.decision("paper", TUE) is None  # nothing decided, nothing sent
    # the executor rejects what was queued, with the reason
    report = env.executor().drain()
    assert report.rejected == [(queued.order_id, f"halted since {halt.as_of}: {halt.reason}")]
    # later sessions stay halted until an operator lifts it
    with pytest.raises(KillSwitchEngaged, match="halted since 2024-03-05"):
        env.place(tuesday, as_of=WED, previous_session=TUE)
    assert env.accounts.clear_halt("paper") == halt
    assert env.accounts.clear_halt("paper") is None
    assert env.place(tuesday, as_of=WED, previous_session=TUE).already_decided is False
    env.executor().drain()
    env.assert_consistent()


def test_a_loss_within_the_limit_or_without_a_previous_decision_does_not_halt(env: Env) -> None:
    env.place(SIGNALS, as_of=MON)
    env.executor().drain()
    env.place([signal("SPY", 1.0, 90.0), signal("QQQ", 1.0, 50.0)], as_of=TUE, previous_session=MON)
    env.place([signal("SPY", 1.0, 10.0), signal("QQQ", 1.0, 5.0)], as_of=WED, previous_session=None)
    assert env.accounts.halt("paper") is None


def test_pending_orders_reduce_the_cash_available_and_are_not_ordered_again(env: Env) -> None:
    env.config.save(TradingConfig(risk=RiskLimits(initial_capital=CAPITAL, max_position_weight=0.9)))
    # Monday: 90 SPY (90% of 10,000) accepted, waiting for their open (no price yet)
    env.prices.opens.clear()
    monday = env.place([signal("SPY", 1.0, 100.0)], as_of=MON)
    assert [(o.symbol, o.quantity) for o in monday.orders] == [("SPY", 90)]
    assert env.executor().drain().awaiting_open == [monday.orders[0].order_id]
    # Tuesday: SPY is to shrink to 5 shares, but none is held yet (cannot sell unheld shares); QQQ wants
    # 100 shares (50% at 50) but the pending buy keeps 90 * 100 * 1.03 * 1.0005 = 9,274.64 (its close plus
    # the 3% market-buy buffer, commission) and only 725.36 is not spoken for: at 50 * 1.03 * 1.0005 a
    # share, 14 shares
    tuesday = env.place([signal("SPY", 0.1, 100.0), signal("QQQ", 1.0, 50.0)], as_of=TUE)
    assert [(o.symbol, o.side, o.quantity) for o in tuesday.orders] == [("QQQ", "BUY", 14)]
    assert "SPY: sell cut from 85 to 0 shares by pending orders" in tuesday.notes
    assert "QQQ: buy cut from 100 to 14 shares by available cash" in tuesday.notes
    # both fill once their open is known, and the cash covers them
    env.prices.opens.update({"SPY": 100.0, "QQQ": 50.0})
    report = env.executor().drain()
    assert len(report.filled) == 2 and report.rejected == []
    env.assert_consistent()


def test_limit_orders_are_planned_filled_or_cancelled_at_the_close(env: Env) -> None:
    env.config.save(
        TradingConfig(
            risk=RiskLimits(initial_capital=CAPITAL),
            execution=ExecutionSettings(order_type="LIMIT", limit_offset_bps=100),
        )
    )
    result = env.place(SIGNALS)
    qqq, spy = result.orders  # ranking order: by symbol
    assert (spy.order_type, spy.limit_price, qqq.limit_price) == ("LIMIT", 101.0, 50.5)
    env.prices.bars["SPY"] = SessionBar(NEXT, 102.0, 103.0, 100.5, 102.5)  # dips to 100.5: filled at 101
    env.prices.bars["QQQ"] = SessionBar(NEXT, 52.0, 53.0, 51.0, 52.5)  # never at 50.5: cancelled
    report = env.executor().drain()
    assert [(f.order_id, f.price) for f in report.filled] == [(spy.order_id, 101.0)]
    assert report.cancelled == [
        (qqq.order_id, "day order expired: limit 50.5 not reached on 2024-03-11 (low 51)")
    ]
    assert env.status(qqq) == ("CANCELLED", report.cancelled[0][1])
    env.assert_consistent()


def test_an_invalid_config_item_is_a_configuration_error(env: Env) -> None:
    bad = TradingConfig().model_dump(mode="json")
    bad["risk"]["daily_loss_limit"] = 2.0
    env.ddb.put_item(
        TableName=CONFIG,
        Item={"pk": {"S": "CONFIG"}, "sk": {"S": "trading"}, "config": {"S": json.dumps(bad)}},
    )
    with pytest.raises(ConfigurationError, match="daily_loss_limit"):
        ConfigStore(CONFIG, env.ddb).load()


@pytest.mark.parametrize(("buffer_bps", "rejected"), [(5.0, 1), (300.0, 0)])
def test_the_market_buy_buffer_keeps_the_last_buy_of_a_gap_up_open(env: Env, buffer_bps, rejected) -> None:
    # Given ten buys that together want the whole account, and opens 2% above the closes they were sized on
    risk = RiskLimits(initial_capital=CAPITAL, max_position_weight=0.1, market_buy_buffer_bps=buffer_bps)
    env.config.save(TradingConfig(risk=risk))
    symbols = [f"S{i:02d}" for i in range(10)]
    placed = env.place([signal(s, 1.0, 50.0) for s in symbols])
    assert len(placed.orders) == 10
    env.prices.opens.update({s: 51.0 for s in symbols})
    # When they fill at the open
    report = env.executor().drain()
    # Then with only slippage budgeted the last one finds the cash short (a real broker would not have
    # accepted it); with the 3% buffer (the default, after Alpaca's buying-power check) all fill
    assert len(report.rejected) == rejected and len(report.filled) == 10 - rejected
    assert all(reason == "insufficient cash" for _, reason in report.rejected)
    env.assert_consistent()
