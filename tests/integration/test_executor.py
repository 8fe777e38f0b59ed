"""The executor against moto (SQS FIFO + DynamoDB): every order reaches exactly one outcome, and cash and
positions always equal the sum of the recorded fills, whatever the queue delivers."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from executor.main import install_signal_handlers, interruptible_sleep, wait_seconds_from_env
from tests.integration.executor_env import (
    CAPITAL,
    CONFIG,
    LEDGER,
    NEXT,
    NOW,
    STATE,
    Env,
    filled_ids,
)
from tradebot.clock import FixedClock
from tradebot.contracts import Order
from tradebot.errors import ConfigurationError, DataQualityError
from tradebot.execution.broker import PaperBroker, SessionBar
from tradebot.execution.executor import ExecutorReport, OrderExecutor
from tradebot.execution.service import (
    MESSAGE_BOUND_SECONDS,
    POLL_SLICE_SECONDS,
    SHUTDOWN_GRACE_SECONDS,
    YAHOO_ATTEMPT_SECONDS,
    ExecutorService,
    ShutdownRequested,
    build_service,
    cloudwatch_heartbeat,
    price_lookup_failure_metric,
    shutdown_worst_case_seconds,
    stopping_sleep,
)
from tradebot.settings import Settings
from tradebot.store.queue import OrderQueue

# --- the happy path ------------------------------------------------------------------------------------


def test_orders_are_accepted_filled_and_deleted(env: Env) -> None:
    buy_spy = env.order("BUY", 20)
    buy_qqq = env.order("BUY", 10, "QQQ")
    env.send(buy_spy)
    env.send(buy_qqq)
    report = env.executor().drain()
    assert report.received == 2
    assert report.accepted == 2
    assert sorted(filled_ids(report)) == sorted([buy_spy.order_id, buy_qqq.order_id])
    assert (report.rejected, report.duplicates, report.awaiting_open, report.invalid) == ([], 0, [], 0)
    assert env.status(buy_spy) == ("FILLED", "")
    entry = env.ledger.get(buy_spy.order_id)
    assert entry is not None and entry.fill is not None
    assert (entry.fill.session, entry.fill.price) == (NEXT, 100.0)
    assert entry.fill.commission == pytest.approx(0.001 * 20 * 100.0)
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()
    portfolio = env.accounts.load("paper", CAPITAL)
    assert portfolio.positions["SPY"].quantity == 20
    assert portfolio.cash == pytest.approx(CAPITAL - 2000 * 1.001 - 500 * 1.001)


def test_buy_then_sell_in_one_batch(env: Env) -> None:
    env.send(env.order("BUY", 20))
    env.send(env.order("SELL", 5))
    report = env.executor().drain()
    assert len(report.filled) == 2
    assert env.accounts.load("paper", CAPITAL).positions["SPY"].quantity == 15
    env.assert_consistent()


def test_an_order_unknown_to_the_ledger_is_recorded_from_its_message(env: Env) -> None:
    order = env.order("BUY", 5)
    env.send(order, record=False)
    report = env.executor().drain()
    assert filled_ids(report) == [order.order_id]
    assert env.status(order) == ("FILLED", "")
    assert "order recorded from its message" in env.logger.messages("info")
    env.assert_consistent()


def test_the_ledger_version_of_an_order_wins_over_the_message(env: Env) -> None:
    order = env.order("BUY", 5)
    env.ledger.record_new(order, NOW)
    tampered = order.model_copy(update={"quantity": 50})
    env.send(tampered, record=False)
    report = env.executor().drain()
    assert [f.quantity for f in report.filled] == [5]
    assert env.logger.messages("warning") == [
        "message differs from the recorded order; the ledger's version is used"
    ]
    env.assert_consistent()


# --- exactly-once under at-least-once delivery ---------------------------------------------------------


def test_duplicate_deliveries_fill_once(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    env.send(order, dedup="copy-2")  # new dedup ids: FIFO deduplication does not catch these
    env.send(order, dedup="copy-3")
    report = env.executor().drain()
    assert report.received == 3
    assert filled_ids(report) == [order.order_id]
    assert report.duplicates == 2
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()
    # and once more, a day later
    env.send(order, dedup="copy-4")
    again = env.executor().drain()
    assert (again.received, again.filled, again.duplicates) == (1, [], 1)
    env.assert_consistent()


class CrashBeforeDelete:
    """An SQS client whose first ``crashes`` deletes do not happen: the process "died" after recording the
    outcome, so the message becomes visible again (as after its visibility timeout)."""

    def __init__(self, sqs: Any, crashes: int = 1) -> None:
        self._sqs = sqs
        self.crashes = crashes
        self.deleted = 0

    def delete_message(self, **kwargs: Any) -> Any:
        if self.crashes > 0:
            self.crashes -= 1
            self._sqs.change_message_visibility(
                QueueUrl=kwargs["QueueUrl"], ReceiptHandle=kwargs["ReceiptHandle"], VisibilityTimeout=0
            )
            return {}
        self.deleted += 1
        return self._sqs.delete_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_crash_between_the_ledger_write_and_the_delete_fills_once(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    crashing = CrashBeforeDelete(env.sqs)
    first = env.executor(sqs=crashing).poll_once()
    assert filled_ids(first) == [order.order_id]
    assert env.queue_counts() == (1, 0)  # redelivered
    second = env.executor(sqs=crashing).drain()  # a restarted executor
    assert (second.received, second.filled, second.duplicates) == (1, [], 1)
    assert crashing.deleted == 1
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()


class FailingDelete:
    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def delete_message(self, **kwargs: Any) -> Any:
        raise ConnectionError("sqs unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_a_failed_delete_is_logged_and_the_batch_goes_on(env: Env) -> None:
    first = env.order("BUY", 1)
    second = env.order("BUY", 1, "QQQ")
    env.send(first)
    env.send(second)
    report = env.executor(sqs=FailingDelete(env.sqs)).poll_once()
    assert sorted(filled_ids(report)) == sorted([first.order_id, second.order_id])
    assert (
        env.logger.messages("warning")
        == ["could not delete a processed message; its redelivery will be a duplicate"] * 2
    )
    env.assert_consistent()


def test_the_service_runs_with_its_default_logger(env: Env) -> None:
    order = env.order("BUY", 1)
    env.send(order)
    executor = OrderExecutor(
        ledger=env.ledger,
        accounts=env.accounts,
        config=env.config,
        broker=PaperBroker(env.prices, 0.0, 0.0),
        clock=env.clock,
        ddb=env.ddb,
    )
    service = ExecutorService(
        queue=OrderQueue(env.queue_url, env.sqs),
        executor=executor,
        clock=env.clock,
        sleep=env.sleeps.append,
        wait_time_seconds=0,
    )
    assert filled_ids(service.drain()) == [order.order_id]


def test_crash_after_accept_before_the_fill_fills_once(env: Env) -> None:
    """The executor died after ACCEPTED (no fill yet): the redelivery goes on from ACCEPTED."""
    order = env.order("BUY", 10)
    env.send(order)
    env.ledger.accept(order.order_id, NOW)
    report = env.executor().drain()
    assert (report.accepted, filled_ids(report)) == (0, [order.order_id])
    env.assert_consistent()


def test_two_executors_on_one_queue_fill_each_order_once(env: Env) -> None:
    accounts = ("paper", "alt")
    for account in accounts:
        for symbol in ("SPY", "QQQ", "IWM"):
            order = env.order("BUY", 3, symbol, account)
            env.send(order)
            env.send(order, dedup=f"{order.order_id}-again")
    a = env.executor(max_messages=1)
    b = env.executor(max_messages=1)
    total = ExecutorReport()
    for _ in range(20):
        total.merge(a.poll_once()).merge(b.poll_once())
    total.merge(a.fill_pending()).merge(b.fill_pending())
    assert total.received == 12
    assert len(total.filled) == 6
    assert len(set(filled_ids(total))) == 6
    assert total.duplicates == 6
    assert env.queue_counts() == (0, 0)
    env.assert_consistent(accounts=accounts)


def test_a_concurrent_fill_by_another_executor_is_a_duplicate(env: Env) -> None:
    """ExecutorService A has accepted the order and asks its broker; meanwhile B fills the same order."""
    order = env.order("BUY", 10)
    env.send(order)
    other = env.executor()
    inner = PaperBroker(env.prices, commission_rate=0.001, slippage_bps=0.0)

    class RacedBroker:
        def execute(self, o: Order) -> Any:
            raced = other.fill_pending()  # B finds the ACCEPTED order through the index and fills it
            assert filled_ids(raced) == [o.order_id]
            return inner.execute(o)

    report = env.executor(broker=RacedBroker()).drain()
    assert (report.accepted, report.filled, report.duplicates) == (1, [], 1)
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()


# --- rejections ----------------------------------------------------------------------------------------


def test_kill_switch_rejects_queued_orders(env: Env) -> None:
    buy = env.order("BUY", 10)
    env.send(buy)
    env.config.set_kill_switch(True, "drawdown review")
    report = env.executor().drain()
    assert report.rejected == [(buy.order_id, "kill switch: drawdown review")]
    assert report.filled == []
    assert env.status(buy) == ("REJECTED", "kill switch: drawdown review")
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()
    assert env.accounts.load("paper", CAPITAL).cash == CAPITAL


def test_kill_switch_rejects_orders_awaiting_the_open(env: Env) -> None:
    order = env.order("BUY", 10, "IWM")
    env.prices.opens.pop("IWM")
    env.send(order)
    assert env.executor().drain().awaiting_open == [order.order_id]
    env.config.set_kill_switch(True, "halt")
    env.prices.opens["IWM"] = 20.0
    report = env.executor().fill_pending()
    assert report.rejected == [(order.order_id, "kill switch: halt")]
    env.assert_consistent()


def test_insufficient_cash_is_rejected(env: Env) -> None:
    small = env.order("BUY", 50)  # 5,000 + commission: fits
    big = env.order("BUY", 150, "QQQ")  # 7,500: no longer fits
    env.send(small)
    env.send(big)
    report = env.executor().drain()
    assert filled_ids(report) == [small.order_id]
    assert report.rejected == [(big.order_id, "insufficient cash")]
    assert env.status(big) == ("REJECTED", "insufficient cash")
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()


def test_sell_larger_than_the_position_is_rejected(env: Env) -> None:
    buy = env.order("BUY", 5)
    sell = env.order("SELL", 8)
    short = env.order("SELL", 1, "QQQ")  # nothing held: long-only
    for order in (buy, sell, short):
        env.send(order)
    report = env.executor().drain()
    assert filled_ids(report) == [buy.order_id]
    assert sorted(report.rejected) == sorted(
        [(sell.order_id, "sell exceeds position"), (short.order_id, "sell exceeds position")]
    )
    env.assert_consistent()
    assert env.accounts.load("paper", CAPITAL).positions["SPY"].quantity == 5


# --- awaiting the open ---------------------------------------------------------------------------------


def test_awaiting_the_open_then_fill_pending(env: Env) -> None:
    order = env.order("BUY", 10, "IWM")
    env.prices.opens.pop("IWM")
    env.send(order)
    executor = env.executor()
    report = executor.drain()
    assert (report.accepted, report.filled, report.awaiting_open) == (1, [], [order.order_id])
    assert env.status(order) == ("ACCEPTED", "")
    assert env.queue_counts() == (0, 0)  # acknowledged: the ledger remembers it
    env.assert_consistent(pending=frozenset({order.order_id}))
    env.prices.opens["IWM"] = 21.0
    later = executor.fill_pending()
    assert filled_ids(later) == [order.order_id]
    assert later.filled[0].price == 21.0
    assert executor.fill_pending().filled == []  # nothing left pending
    env.assert_consistent()


# --- bad messages and failures -------------------------------------------------------------------------


def test_an_invalid_body_is_logged_and_left_for_the_dlq(env: Env) -> None:
    good = env.order("BUY", 1)
    env.send_body('{"not": "an order"}', "poison", "bad-1")
    env.send_body("not even json", "poison2", "bad-2")
    env.send(good)
    report = env.executor().poll_once()
    assert (report.received, report.invalid, filled_ids(report)) == (3, 2, [good.order_id])
    assert env.queue_counts() == (0, 2)  # in flight, not deleted: they reach the DLQ after maxReceiveCount
    errors = [r for r in env.logger.records if r[0] == "error"]
    assert [m for _, m, _ in errors] == ["invalid order message left for the DLQ"] * 2
    assert all("message_id" in extra for _, _, extra in errors)
    env.assert_consistent()


class BrokenPrices:
    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        raise DataQualityError("feed down")


def test_a_processing_failure_leaves_the_message_for_redelivery(env: Env) -> None:
    order = env.order("BUY", 1)
    env.send(order)
    broken = PaperBroker(BrokenPrices(), commission_rate=0.0, slippage_bps=0.0)
    report = env.executor(broker=broken).poll_once()
    assert (report.errors, report.filled) == (1, [])
    assert env.queue_counts() == (0, 1)
    assert env.status(order) == ("ACCEPTED", "")
    assert env.logger.messages("exception") == ["order processing failed; message left for redelivery"]
    # a failing pending fill is logged, not raised
    assert env.executor(broker=broken).fill_pending().errors == 1


# --- the service loop ----------------------------------------------------------------------------------


class StopAfterPolls:
    """Sets ``stop`` after ``polls`` receives (as SIGTERM would during a long poll); the batch completes."""

    def __init__(self, sqs: Any, stop: threading.Event, polls: int = 1, fail_first: int = 0) -> None:
        self._sqs = sqs
        self._stop = stop
        self._polls = polls
        self._fail = fail_first
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self._fail > 0:
            self._fail -= 1
            raise ConnectionError("endpoint unreachable")
        if self.receives >= self._polls:
            self._stop.set()
        return self._sqs.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_run_processes_the_in_flight_poll_then_stops(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    stop = threading.Event()
    sqs = StopAfterPolls(env.sqs, stop)
    env.executor(sqs=sqs).run(stop)
    assert sqs.receives == 1
    assert env.status(order) == ("FILLED", "")
    assert env.queue_counts() == (0, 0)
    assert env.beats == 1
    assert env.sleeps == []
    assert env.logger.messages("info")[-1] == "executor stopped"


def test_run_backs_off_on_failures_and_keeps_going(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    stop = threading.Event()
    sqs = StopAfterPolls(env.sqs, stop, polls=4, fail_first=2)
    env.executor(sqs=sqs).run(stop)
    assert env.sleeps == [2.0, 4.0]
    assert env.status(order) == ("FILLED", "")
    assert env.logger.messages("exception") == ["executor loop failed"] * 2


def test_run_fills_pending_orders_and_beats_on_schedule(env: Env) -> None:
    order = env.order("BUY", 10, "IWM")
    env.prices.opens.pop("IWM")
    env.send(order)
    stop = threading.Event()

    class Ticking:
        """Each receive: the clock moves 30 s; after 5 receives the open is known; stop after 8."""

        def __init__(self) -> None:
            self.receives = 0

        def receive_message(self, **kwargs: Any) -> Any:
            self.receives += 1
            env.clock.advance(30)
            if self.receives == 5:
                env.prices.opens["IWM"] = 20.0
            if self.receives == 8:
                stop.set()
            return env.sqs.receive_message(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(env.sqs, name)

    env.executor(sqs=Ticking(), pending_interval_seconds=60).run(stop)
    assert env.status(order) == ("FILLED", "")
    assert env.beats == 4  # every 60 s of clock time: t = 0, 60, 120, 180
    env.assert_consistent()


def test_a_failing_heartbeat_does_not_stop_the_service(env: Env) -> None:
    stop = threading.Event()

    def bad_beat() -> None:
        raise ConnectionError("cloudwatch down")

    executor = env.executor(sqs=StopAfterPolls(env.sqs, stop))
    executor._heartbeat = bad_beat
    executor.run(stop)
    assert env.logger.messages("warning") == ["heartbeat failed"]


def test_cloudwatch_heartbeat(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch_heartbeat(cloudwatch)()
    metrics = cloudwatch.list_metrics(Namespace="TradeBot")["Metrics"]
    assert [(m["MetricName"], m["Dimensions"]) for m in metrics] == [
        ("ExecutorHeartbeat", [{"Name": "service", "Value": "tradebot"}])  # what the template's alarm watches
    ]


def test_wait_seconds_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXECUTOR_WAIT_SECONDS", raising=False)
    assert wait_seconds_from_env() == 20
    monkeypatch.setenv("EXECUTOR_WAIT_SECONDS", "5")
    assert wait_seconds_from_env() == 5
    for bad in ("21", "-1", "soon"):
        monkeypatch.setenv("EXECUTOR_WAIT_SECONDS", bad)
        with pytest.raises(ConfigurationError, match="EXECUTOR_WAIT_SECONDS"):
            wait_seconds_from_env()


def test_executor_parameters_are_checked(env: Env) -> None:
    with pytest.raises(ValueError):
        ExecutorService(
            queue=OrderQueue(env.queue_url, env.sqs),
            executor=env.order_executor(),
            clock=env.clock,
            sleep=env.sleeps.append,
            wait_time_seconds=21,
        )


# --- wiring (tradebot.execution.service.build_service, used by executor/main.py) --------------------------


def test_build_service_from_settings(env: Env) -> None:
    settings = Settings(
        config_table=CONFIG,
        state_table=STATE,
        ledger_table=LEDGER,
        idempotency_table="IdempotencyTable",
        data_bucket="bucket",
        orders_queue_url=env.queue_url,
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
    )
    order = env.order("BUY", 10)
    env.send(order)
    beats: list[int] = []
    executor = build_service(
        settings,
        prices=env.prices,
        clock=env.clock,
        sleep=env.sleeps.append,
        heartbeat=lambda: beats.append(1),
        wait_time_seconds=0,
    )
    report = executor.drain()
    assert filled_ids(report) == [order.order_id]
    fill = report.filled[0]
    risk = env.config.load().risk
    assert fill.price == pytest.approx(100.0 * (1 + risk.slippage_bps / 10_000))
    assert fill.commission == pytest.approx(risk.commission_rate * 10 * fill.price)
    env.assert_consistent()


def test_sigterm_sets_the_stop_event() -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    stop = threading.Event()
    try:
        install_signal_handlers(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- visibility extension -------------------------------------------------------------------------------


class RecordingVisibility:
    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.extensions: list[list[int]] = []

    def change_message_visibility_batch(self, **kwargs: Any) -> Any:
        self.extensions.append([e["VisibilityTimeout"] for e in kwargs["Entries"]])
        return self._sqs.change_message_visibility_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_a_slow_batch_keeps_its_remaining_messages_invisible(env: Env) -> None:
    orders = [env.order("BUY", 1, symbol) for symbol in ("SPY", "QQQ", "IWM")]
    for order in orders:
        env.send(order)
    inner = PaperBroker(env.prices, commission_rate=0.0, slippage_bps=0.0)

    class SlowBroker:
        def execute(self, order: Order) -> Any:
            env.clock.advance(70)  # each fill takes 70 s of (injected) time
            return inner.execute(order)

    sqs = RecordingVisibility(env.sqs)
    report = env.executor(sqs=sqs, broker=SlowBroker(), visibility_timeout_seconds=120).poll_once()
    # 70 s >= 120/2 after the first message: the other two are extended; after the second, the last one
    assert sqs.extensions == [[120, 120], [120]]
    assert (report.extended, len(report.filled)) == (3, 3)
    assert env.queue_counts() == (0, 0)
    env.assert_consistent()


def test_a_fast_batch_is_not_extended(env: Env) -> None:
    for symbol in ("SPY", "QQQ"):
        env.send(env.order("BUY", 1, symbol))
    sqs = RecordingVisibility(env.sqs)
    report = env.executor(sqs=sqs).poll_once()
    assert (sqs.extensions, report.extended, len(report.filled)) == ([], 0, 2)


# --- issue 10: prices only from the fill session; failed lookups are errors with a metric -----------------


class FailingPrices:
    """A price source that cannot be reached until ``ok`` is set (then: the fake next-session bars)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.ok = False
        self.calls = 0

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        self.calls += 1
        if not self.ok:
            raise ConnectionError("feed down")
        return self.env.prices.next_bar(symbol, after)


def test_a_failed_price_lookup_is_an_error_with_a_metric_and_the_order_waits(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    prices = FailingPrices(env)
    counted: list[int] = []
    broker = PaperBroker(prices, commission_rate=0.001, slippage_bps=0.0, clock=env.clock)
    executor = env.executor(broker=broker)
    executor._executor._on_price_lookup_failure = lambda: counted.append(1)
    report = executor.poll_once()
    assert (report.accepted, report.filled, report.price_lookup_failures) == (1, [], 1)
    assert report.awaiting_open == [order.order_id] and report.errors == 0
    assert env.status(order) == ("ACCEPTED", "") and env.queue_counts() == (0, 0)  # the ledger keeps it
    assert counted == [1]
    ((_, message, extra),) = [r for r in env.logger.records if r[0] == "error"]
    assert message == "price lookup failed; the order stays ACCEPTED for the next sweep"
    assert extra["order_id"] == order.order_id and "ConnectionError: feed down" in extra["error"]
    assert [m for m in env.logger.messages("info") if m == "order pending"] == []  # not "awaiting the open"
    # the next sweep fails again (counted again), then the feed is back and the order fills
    assert executor.fill_pending().price_lookup_failures == 1 and counted == [1, 1]
    prices.ok = True
    assert filled_ids(executor.fill_pending()) == [order.order_id]
    env.assert_consistent()


def test_a_day_order_whose_session_passed_without_a_price_is_cancelled(env: Env) -> None:
    order = env.order("BUY", 10, "IWM")  # decided Friday 2024-03-08: its session is Monday 2024-03-11
    env.prices.opens.pop("IWM")
    env.send(order)
    broker = PaperBroker(env.prices, commission_rate=0.001, slippage_bps=0.0, clock=env.clock)
    executor = env.executor(broker=broker)
    assert executor.drain().awaiting_open == [order.order_id]
    env.clock.advance((datetime(2024, 3, 12, 2, 0, tzinfo=UTC) - env.clock.now()).total_seconds())
    report = executor.fill_pending()  # 22:00 New York on the 11th: the session's close + 6 h
    assert report.cancelled == [(order.order_id, env.status(order)[1])]
    status, reason = env.status(order)
    assert status == "CANCELLED"
    assert reason.startswith(
        "day order expired: no bar for IWM on 2024-03-11 (the session after the 2024-03-08"
    )
    assert executor.fill_pending().cancelled == []  # final: nothing reserved for it any more
    env.assert_consistent()


def test_failing_lookups_end_in_cancelled_three_days_after_the_session(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)
    broker = PaperBroker(FailingPrices(env), commission_rate=0.0, slippage_bps=0.0, clock=env.clock)
    executor = env.executor(broker=broker)
    assert executor.drain().price_lookup_failures >= 1
    env.clock.advance((datetime(2024, 3, 14, 20, 0, tzinfo=UTC) - env.clock.now()).total_seconds())
    report = executor.fill_pending()
    assert [i for i, _ in report.cancelled] == [order.order_id]
    assert "price lookups still failing 3 days after its close" in env.status(order)[1]


def test_real_spy_without_the_next_session_is_cancelled_not_filled_later(env: Env, tmp_path: Any) -> None:
    # REAL SPY bars 2021-01-01..2024-04-19 without the 2024-04-17 row, decision on 2024-04-16: the BUY
    # used to fill on 2024-04-18 at 502.231; now it is CANCELLED with the reason
    from tests.market_fakes import spy_until, write_spy
    from tradebot.contracts import order_id_for
    from tradebot.data.csv_source import CsvSource
    from tradebot.execution.next_bars import BarSourcePrices

    lines = [line for line in spy_until("2024-04-19", "2021-01-01") if not line.startswith("2024-04-17")]
    source = CsvSource(write_spy(tmp_path / "spy", lines))
    decided = date(2024, 4, 16)
    order = env.order("BUY", 10).model_copy(
        update={
            "as_of": decided,
            "order_id": order_id_for("paper", decided, "SPY", "BUY"),
            "reference_price": 503.53,
        }
    )
    env.orders[-1] = order
    env.send(order)
    clock = FixedClock(datetime(2024, 4, 19, 21, 0, tzinfo=UTC))
    broker = PaperBroker(
        BarSourcePrices(source, clock=clock), commission_rate=0.0005, slippage_bps=5, clock=clock
    )
    report = env.executor(broker=broker).drain()
    assert report.filled == [] and [i for i, _ in report.cancelled] == [order.order_id]
    status, reason = env.status(order)
    assert (
        status == "CANCELLED"
        and "no bar for SPY on 2024-04-17" in reason
        and "next bar is 2024-04-18" in reason
    )
    env.assert_consistent()


def test_price_lookup_failures_metric(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    price_lookup_failure_metric(cloudwatch)()
    metrics = cloudwatch.list_metrics(Namespace="TradeBot", MetricName="PriceLookupFailures")["Metrics"]
    assert [(m["MetricName"], m["Dimensions"]) for m in metrics] == [
        ("PriceLookupFailures", [{"Name": "service", "Value": "tradebot"}])  # what the alarm should watch
    ]


def test_build_service_counts_failed_lookups(env: Env) -> None:
    settings = Settings(
        config_table=CONFIG,
        state_table=STATE,
        ledger_table=LEDGER,
        idempotency_table="IdempotencyTable",
        data_bucket="bucket",
        orders_queue_url=env.queue_url,
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
    )
    order = env.order("BUY", 10)
    env.send(order)
    counted: list[int] = []
    service = build_service(
        settings,
        prices=FailingPrices(env),
        clock=env.clock,
        sleep=env.sleeps.append,
        heartbeat=lambda: None,
        wait_time_seconds=0,
        price_lookup_failure=lambda: counted.append(1),
    )
    report = service.poll_once()
    assert report.price_lookup_failures == 1 and counted == [1]
    assert env.status(order) == ("ACCEPTED", "")


def test_a_failing_metric_put_does_not_stop_the_executor(env: Env) -> None:
    order = env.order("BUY", 10)
    env.send(order)

    def broken_metric() -> None:
        raise ConnectionError("cloudwatch down")

    broker = PaperBroker(FailingPrices(env), commission_rate=0.0, slippage_bps=0.0)
    executor = env.executor(broker=broker)
    executor._executor._on_price_lookup_failure = broken_metric
    assert executor.poll_once().price_lookup_failures == 1
    assert "could not count the price lookup failure" in env.logger.messages("warning")


# --- stopping (SIGTERM) ---------------------------------------------------------------------------------


class SlowPrices:
    """Next-session prices whose every lookup takes ``seconds`` of the injected clock (a Yahoo attempt at its
    timeout); the first lookup also sets ``stop_on_first`` (SIGTERM while that message is in flight)."""

    def __init__(self, env: Env, seconds: float, stop_on_first: threading.Event | None = None) -> None:
        self._env = env
        self._seconds = seconds
        self._stop = stop_on_first
        self.lookups = 0
        self.signalled_at: datetime | None = None

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        self.lookups += 1
        if self._stop is not None and not self._stop.is_set():
            self.signalled_at = self._env.clock.now()
            self._stop.set()
        self._env.clock.advance(self._seconds)
        return self._env.prices.next_bar(symbol, after)


class RecordingReceives:
    """The SQS client, recording each ReceiveMessage's wait and setting ``stop`` during receive number
    ``stop_at`` (as SIGTERM during that long poll would; what it returns is still the batch in hand)."""

    def __init__(self, sqs: Any, stop: threading.Event, stop_at: int) -> None:
        self._sqs = sqs
        self._stop = stop
        self._stop_at = stop_at
        self.waits: list[int] = []

    def receive_message(self, **kwargs: Any) -> Any:
        self.waits.append(kwargs["WaitTimeSeconds"])
        if len(self.waits) == self._stop_at:
            self._stop.set()
        return self._sqs.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def stopping_service(env: Env, sqs: Any, prices: Any = None, wait: int = 20) -> ExecutorService:
    """The service as build_service wires it (a 20 s long poll in
    5 s slices, the default grace), against the test environment."""
    broker = PaperBroker(prices or env.prices, commission_rate=0.001, slippage_bps=0.0, clock=env.clock)
    return ExecutorService(
        queue=OrderQueue(env.queue_url, sqs),
        executor=env.order_executor(broker),
        clock=env.clock,
        sleep=env.sleeps.append,
        wait_time_seconds=wait,
        logger=env.logger,
        heartbeat=env.beat,
        visibility_timeout_seconds=30,
    )


def test_a_stop_ends_the_long_poll_within_one_slice(env: Env) -> None:
    stop = threading.Event()
    sqs = RecordingReceives(env.sqs, stop, stop_at=2)  # SIGTERM during the second slice of an idle poll
    stopping_service(env, sqs).run(stop)
    assert sqs.waits == [POLL_SLICE_SECONDS, POLL_SLICE_SECONDS]  # never a 20 s wait; nothing after the stop
    assert env.logger.messages("info")[-1] == "executor stopped"


def test_an_idle_long_poll_is_made_of_slices(env: Env) -> None:
    stop = threading.Event()
    sqs = RecordingReceives(env.sqs, stop, stop_at=5)
    stopping_service(env, sqs).run(stop)
    assert sqs.waits == [5, 5, 5, 5, 5]  # one 20 s poll = 4 slices, then the next poll's first slice


def test_a_stop_during_the_poll_that_brings_a_batch_finishes_the_batch(env: Env) -> None:
    orders = [env.order("BUY", 1, symbol) for symbol in ("SPY", "QQQ", "IWM")]
    for order in orders:
        env.send(order)
    stop = threading.Event()
    sqs = RecordingReceives(env.sqs, stop, stop_at=1)
    stopping_service(env, sqs).run(stop)
    assert len(sqs.waits) == 1  # nothing received after the stop
    assert [env.status(o)[0] for o in orders] == ["FILLED"] * 3  # the batch in hand: recorded ...
    assert env.queue_counts() == (0, 0)  # ... and deleted
    env.assert_consistent()


def test_the_worst_case_stop_fits_the_stop_timeout(env: Env) -> None:
    """SIGTERM while the first of 10 messages waits on a Yahoo attempt at its timeout, every later lookup
    as slow: the batch goes on for the grace period, the messages not started are released (visible at
    once, not deleted, not lost), and the stop takes no longer than shutdown_worst_case_seconds() by the
    injected clock, which the template's StopTimeout exceeds with a margin."""
    orders = [env.order("BUY", 1, f"S{i}") for i in range(10)]
    for order in orders:
        env.prices.opens[order.symbol] = 10.0
        env.send(order)
    stop = threading.Event()
    prices = SlowPrices(env, MESSAGE_BOUND_SECONDS, stop_on_first=stop)
    stopping_service(env, env.sqs, prices).run(stop)

    assert prices.signalled_at is not None
    elapsed = (env.clock.now() - prices.signalled_at).total_seconds()
    assert elapsed <= shutdown_worst_case_seconds()
    # the message in flight at SIGTERM, then the grace period's messages (one 35 s lookup exceeds 15 s)
    started = 1 + -(-SHUTDOWN_GRACE_SECONDS // MESSAGE_BOUND_SECONDS)
    assert prices.lookups == started
    statuses = [env.status(o)[0] for o in orders]
    assert statuses == ["FILLED"] * int(started) + ["NEW"] * (10 - int(started))
    assert env.queue_counts() == (10 - started, 0)  # released: visible again now, for the next executor
    assert "stopping: messages not started were released" in env.logger.messages("warning")


def test_the_template_stop_timeout_covers_the_worst_case() -> None:
    from tradebot.data.yfinance_source import YFinanceSource
    from tradebot_local.cfn import load_template
    from tradebot_local.provision import REPO_ROOT

    template = load_template(REPO_ROOT / "template.yaml")
    (container,) = template["Resources"]["ExecutorTaskDefinition"]["Properties"]["ContainerDefinitions"]
    stop_timeout = container["StopTimeout"]
    assert stop_timeout <= 120, "Fargate's maximum StopTimeout"
    assert stop_timeout >= shutdown_worst_case_seconds() + 30, "a margin of at least 30 s"
    # the bound of one message assumes one Yahoo attempt at YFinanceSource's HTTP timeout
    assert YFinanceSource().timeout <= YAHOO_ATTEMPT_SECONDS
    assert POLL_SLICE_SECONDS <= MESSAGE_BOUND_SECONDS


def test_a_stop_ends_the_pending_pass(env: Env) -> None:
    orders = [env.order("BUY", 1, symbol) for symbol in ("SPY", "QQQ", "IWM")]
    for order in orders:
        env.ledger.record_new(order, NOW)
        env.ledger.accept(order.order_id, NOW)
    stop = threading.Event()
    prices = SlowPrices(env, 1.0, stop_on_first=stop)  # SIGTERM during the first pending order
    report = stopping_service(env, env.sqs, prices).fill_pending(stop)
    assert prices.lookups == 1
    assert len(report.filled) == 1
    assert sorted(env.status(o)[0] for o in orders) == ["ACCEPTED", "ACCEPTED", "FILLED"]
    assert "stopping: the pending pass ends here" in env.logger.messages("info")


def test_a_stopping_executor_gives_up_yahoo_retries_and_the_order_waits(env: Env) -> None:
    """The backoff between two Yahoo attempts ends the lookup once the executor is stopping: the order
    stays ACCEPTED (retried by the next executor), the message is deleted."""
    from tradebot.data.yfinance_source import YFinanceSource
    from tradebot.execution.next_bars import BarSourcePrices

    stop = threading.Event()
    attempts: list[list[str]] = []

    def download(symbols: list[str], **kwargs: Any) -> Any:
        attempts.append(symbols)
        stop.set()  # SIGTERM arrives while Yahoo times out
        raise TimeoutError("read timed out")

    source = YFinanceSource(download=download, sleep=stopping_sleep(stop), cache_dir=None)
    order = env.order("BUY", 1)
    env.send(order)
    service = stopping_service(env, env.sqs, BarSourcePrices(source, clock=env.clock), wait=0)
    report = service.poll_once(stop)
    assert attempts == [["SPY"]]  # one attempt, no retry after the stop
    assert report.price_lookup_failures == 1
    assert env.status(order)[0] == "ACCEPTED"
    assert env.queue_counts() == (0, 0)


def test_stopping_sleep() -> None:
    stop = threading.Event()
    stopping_sleep(stop)(0)  # not stopping: sleeps (here 0 s) and returns
    stop.set()
    with pytest.raises(ShutdownRequested):
        stopping_sleep(stop)(30)  # stopping: returns at once, by raising


def test_main_sleeps_until_stopped() -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    interruptible_sleep(stop)(60)
    assert time.monotonic() - started < 1
