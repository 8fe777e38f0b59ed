"""Fault injection (moto: SQS FIFO + DynamoDB): duplicates, crashes, retries, two executors, the kill switch
flipped mid-run, insufficient cash, oversized sells. After each: every order has exactly one final state,
cash and positions equal the sum of the fills, and nothing is lost (the queue is empty, nothing in flight).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.integration.executor_env import CAPITAL, Env, filled_ids, signal
from tradebot.contracts import Order
from tradebot.execution.broker import PaperBroker
from tradebot.execution.executor import ExecutorReport
from tradebot.execution.service import ExecutorService
from tradebot.store.ledger import FINAL_STATUSES
from tradebot.trading.config import RiskLimits, TradingConfig

UNIVERSE = [signal("SPY", 1.0, 100.0), signal("QQQ", 1.0, 50.0), signal("IWM", 1.0, 20.0)]


def assert_settled(env: Env) -> None:
    """The invariants every scenario must end with."""
    env.assert_consistent()  # one final state per order; cash and positions = the sum of the fills
    assert env.queue_counts() == (0, 0)  # nothing lost in the queue, nothing left in flight
    for order in env.orders:
        entry = env.ledger.get(order.order_id)
        assert entry is not None and entry.status in FINAL_STATUSES
    portfolio = env.accounts.load("paper", CAPITAL)
    assert portfolio.cash >= 0
    assert all(p.quantity >= 0 for p in portfolio.positions.values())


def drain_all(*executors: ExecutorService, rounds: int = 50) -> ExecutorReport:
    """Poll the executors in turn until the queue is empty, then sweep pending orders."""
    total = ExecutorReport()
    for _ in range(rounds):
        received = 0
        for executor in executors:
            polled = executor.poll_once()
            received += polled.received
            total.merge(polled)
        if received == 0:
            break
    for executor in executors:
        total.merge(executor.fill_pending())
    return total


class Killed(BaseException):
    """The process died (SIGKILL, OOM): not an Exception, so nothing in the executor catches it."""


class FaultySqs:
    """The queue as one executor process sees it. The first ``kills`` deletes kill the process (the outcome
    is recorded, the message not deleted); the messages a dead process held become visible again, as when
    their visibility timeout expires (``expire_in_flight`` does the same for messages left unprocessed)."""

    def __init__(self, sqs: Any, kills: int = 0) -> None:
        self._sqs = sqs
        self.kills = kills
        self.killed = 0
        self.in_flight: dict[str, str] = {}  # receipt handle -> queue url

    def receive_message(self, **kwargs: Any) -> Any:
        response = self._sqs.receive_message(**kwargs)
        for message in response.get("Messages", []):
            self.in_flight[message["ReceiptHandle"]] = kwargs["QueueUrl"]
        return response

    def delete_message(self, **kwargs: Any) -> Any:
        if self.kills > 0:
            self.kills -= 1
            self.killed += 1
            self.expire_in_flight()
            raise Killed
        self.in_flight.pop(kwargs["ReceiptHandle"], None)
        return self._sqs.delete_message(**kwargs)

    def expire_in_flight(self) -> None:
        for handle, url in self.in_flight.items():
            self._sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        self.in_flight.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def resend_everything(env: Env, copies: int) -> None:
    """The queue delivers each order ``copies`` times (distinct dedup ids defeat FIFO deduplication, as a
    re-send after its 5-minute window would)."""
    for order in list(env.sent):
        for n in range(1, copies):
            env.send_body(json.dumps(order.model_dump(mode="json")), order.account, f"{order.order_id}-{n}")


# --- the scenarios of the issue ----------------------------------------------------------------------------


@pytest.mark.parametrize("copies", [2, 3])
def test_every_message_delivered_several_times(env: Env, copies: int) -> None:
    placed = env.place(UNIVERSE)
    resend_everything(env, copies)
    report = env.executor().drain()
    assert report.received == copies * len(placed.orders)
    assert sorted(filled_ids(report)) == sorted(o.order_id for o in placed.orders)
    assert report.duplicates == (copies - 1) * len(placed.orders)
    assert_settled(env)


def test_executor_killed_after_the_ledger_write_and_before_the_delete(env: Env) -> None:
    placed = env.place(UNIVERSE)
    sqs = FaultySqs(env.sqs, kills=1)
    with pytest.raises(Killed):  # the first order is filled and recorded, then the process dies
        env.executor(sqs=sqs).poll_once()
    assert env.status(placed.orders[0]) == ("FILLED", "")
    assert env.queue_counts() == (3, 0)  # the whole batch comes back
    restarted = env.executor(sqs=FaultySqs(env.sqs)).drain()
    assert restarted.received == 3 and restarted.duplicates == 1
    assert filled_ids(restarted) == [o.order_id for o in placed.orders[1:]]
    assert_settled(env)


def test_a_crash_loop_on_one_message_fills_it_once(env: Env) -> None:
    placed = env.place(UNIVERSE)
    resend_everything(env, 2)
    for _ in range(5):  # five executor lifetimes, each killed at its first delete (the same message)
        with pytest.raises(Killed):
            env.executor(sqs=FaultySqs(env.sqs, kills=1)).drain()
    assert [env.status(o)[0] for o in placed.orders] == ["FILLED", "NEW", "NEW"]
    clean = env.executor().drain()
    assert sorted(filled_ids(clean)) == sorted(o.order_id for o in placed.orders[1:])
    assert (clean.received, clean.duplicates) == (6, 4)  # both copies of the first, the second of the others
    assert_settled(env)


def test_papertrade_retried_sends_all_its_orders_twice(env: Env) -> None:
    first = env.place(UNIVERSE)
    second = env.place(UNIVERSE)  # the retry: the decision is replayed, its NEW orders sent again
    assert second.orders == first.orders and second.sent == len(first.orders)
    resend_everything(env, 2)  # ... and the queue's deduplication window is long gone
    report = env.executor().drain()
    assert len(report.filled) == len(first.orders)
    assert_settled(env)


def test_two_executors_on_one_queue(env: Env) -> None:
    for account in ("paper", "alt"):
        for symbol in ("SPY", "QQQ", "IWM"):
            order = env.order("BUY", 2, symbol, account)
            env.send(order)
            env.send(order, dedup=f"{order.order_id}-dup")
    a, b = env.executor(max_messages=1), env.executor(max_messages=2)
    report = drain_all(a, b, b, a)
    assert len(report.filled) == len(set(filled_ids(report))) == 6
    assert report.duplicates == 6
    env.assert_consistent(accounts=("paper", "alt"))
    assert env.queue_counts() == (0, 0)


def test_kill_switch_flipped_mid_run(env: Env) -> None:
    placed = env.place(UNIVERSE)
    inner = PaperBroker(env.prices, commission_rate=0.001, slippage_bps=0.0)
    executions = 0

    class FlipAfterFirst:
        def execute(self, order: Order) -> Any:
            nonlocal executions
            executions += 1
            if executions == 1:  # the operator flips the switch while the first order is being filled
                env.config.set_kill_switch(True, "flash crash")
            return inner.execute(order)

    report = env.executor(broker=FlipAfterFirst()).drain()  # one batch holds all three orders
    first, *rest = placed.orders
    assert filled_ids(report) == [first.order_id]  # already at the broker: it fills
    assert report.rejected == [(o.order_id, "kill switch: flash crash") for o in rest]
    assert_settled(env)


def test_insufficient_cash(env: Env) -> None:
    env.config.save(TradingConfig(risk=RiskLimits(initial_capital=CAPITAL, max_position_weight=1.0)))
    placed = env.place([signal("SPY", 1.0, 100.0)])  # 99 shares at 100: sized for a 100 close
    env.prices.opens["SPY"] = 120.0  # the open gaps up 20%: 11,880 > 10,000
    report = env.executor().drain()
    assert report.rejected == [(placed.orders[0].order_id, "insufficient cash")]
    assert env.accounts.load("paper", CAPITAL).cash == CAPITAL
    assert_settled(env)


def test_a_sell_larger_than_the_position(env: Env) -> None:
    buy = env.order("BUY", 5)
    env.send(buy)
    env.executor().drain()
    oversized = Order.model_validate(
        {**buy.model_dump(), "order_id": "f" * 24, "side": "SELL", "quantity": 6}
    )
    env.orders.append(oversized)
    env.send(oversized)
    report = env.executor().drain()
    assert report.rejected == [(oversized.order_id, "sell exceeds position")]
    assert env.accounts.load("paper", CAPITAL).positions["SPY"].quantity == 5
    assert_settled(env)


def test_a_poison_message_ends_in_the_dead_letter_queue_and_blocks_nothing(env: Env) -> None:
    dlq_url = env.sqs.create_queue(QueueName="orders-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq = env.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    env.sqs.set_queue_attributes(
        QueueUrl=env.queue_url,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 2})
        },
    )
    env.send_body('{"order_id": "not an order"}', "poison", "poison-1")
    placed = env.place(UNIVERSE)
    sqs = FaultySqs(env.sqs)
    executor = env.executor(sqs=sqs)
    invalid = 0
    for _ in range(3):  # the poison is left in flight each time; its visibility timeout then expires
        invalid += executor.poll_once().invalid
        sqs.expire_in_flight()
    assert invalid == 2  # received twice (maxReceiveCount), then moved to the DLQ instead of a third time
    dead = env.sqs.receive_message(QueueUrl=dlq_url).get("Messages", [])
    assert [m["Body"] for m in dead] == ['{"order_id": "not an order"}']
    assert {env.status(o)[0] for o in placed.orders} == {"FILLED"}
    assert_settled(env)


# --- all at once, seeded ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_faults_never_lose_or_double_fill(env: Env, seed: int) -> None:
    rng = random.Random(seed)
    env.config.save(TradingConfig(risk=RiskLimits(initial_capital=CAPITAL, max_position_weight=0.5)))
    for symbol, price in (("TLT", 90.0), ("GLD", 180.0), ("EFA", 70.0)):
        env.prices.opens[symbol] = price
    signals = [signal(s, rng.choice([0.0, 0.5, 1.0]), p) for s, p in env.prices.opens.items()]
    placed = env.place(signals)
    if rng.random() < 0.5:
        env.place(signals)  # PaperTrade retried
    resend_everything(env, rng.choice([1, 2, 3]))
    # a few orders the account cannot honour
    oversell = env.order("SELL", 10_000, "IWM")
    env.send(oversell)

    def process() -> ExecutorService:  # an executor process that may die at one of its next deletes
        return env.executor(
            sqs=FaultySqs(env.sqs, kills=rng.choice([0, 0, 1])), max_messages=rng.randint(1, 10)
        )

    executors = [process(), process()]
    for _ in range(200):
        i = rng.randrange(2)
        try:
            executors[i].poll_once()
        except Killed:
            executors[i] = process()  # ECS starts a new task
        if env.queue_counts() == (0, 0):
            break
    survivors = [env.executor(), env.executor()]
    drain_all(*survivors)
    assert env.status(oversell) == ("REJECTED", "sell exceeds position")
    assert {env.status(o)[0] for o in placed.orders} <= {"FILLED", "REJECTED"}
    assert_settled(env)
