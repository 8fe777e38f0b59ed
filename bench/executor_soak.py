"""Soak benchmark of the executor: N orders with random duplicates through the emulated SQS FIFO queue,
consumed by executor processes that crash at random; then every order must have exactly one final state
and every account must equal the sum of its fills.

    .venv/bin/python bench/executor_soak.py                  # 2,000 orders, 2 executors, ~7 minutes
    .venv/bin/python bench/executor_soak.py --orders 200     # a quick one

Setup: the emulator's server mode (tradebot_local.emulator.start_server: moto's server on 127.0.0.1, a
free port, in this process), holding the template's tables (ledger with its by_status index, state,
config) and the orders FIFO queue with its DLQ. The orders are recorded NEW in the ledger and sent as
PaperTrade sends them (tradebot.store.queue.order_message: group = account, deduplication id = order id); a
fraction is sent again, half with the same deduplication id (SQS deduplication's job) and half with another
one (as after the 5-minute window: the executor's job). Two executor processes (this file with --worker)
run tradebot's ExecutorService around an OrderExecutor with the paper broker against the server, and die
at random (os._exit, as SIGKILL would): after recording an outcome and before deleting its message, or
after accepting an order and before filling it. This process restarts dead executors (as ECS would), waits
until every order is final (the ledger's by_status index) and the queue is empty (or --timeout passes),
stops them with SIGTERM, and checks.

Emulator caveats. Throughput is moto's, not the executor's: moto deep-copies a whole table for every
TransactWriteItems (its rollback), so orders/s falls as the ledger grows (about 9/s at 500 orders, 5/s at
2,000 on 2 cores); the figure checks that crashes and duplicates cost no correctness, not AWS speed. And,
handled by the emulator: moto's DynamoDB evaluates a condition and applies a write in separate steps, and
the server runs requests on threads, so two concurrent conditional writes could both pass. Real DynamoDB
makes each conditional write and each transaction atomic; to emulate that, start_server serializes
DynamoDB requests (SQS requests are not: concurrent receives may even hand out a message twice, which is
just one more duplicate). Prints: orders sent, final states, duplicates suppressed, lost, double_filled,
orders/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import boto3

REGION = "us-east-1"
LEDGER, STATE, CONFIG = "soak-ledger", "soak-state", "soak-config"
QUEUE, DLQ = "soak-orders.fifo", "soak-orders-dlq.fifo"
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")
FIRST_SESSION = date(2020, 1, 1)
CRASH_EXIT = 137  # what a SIGKILLed process reports


def price(symbol: str, session: date) -> float:
    """A deterministic open for (symbol, session), 10.00 .. 500.00."""
    digest = hashlib.sha256(f"{symbol}|{session.isoformat()}".encode()).digest()
    return 10 + int.from_bytes(digest[:4], "big") % 49_000 / 100


class SoakPrices:
    """Every order's next session exists, its bar flat at ``price``."""

    def next_bar(self, symbol: str, after: date) -> Any:
        from tradebot.execution.broker import SessionBar

        session = after + timedelta(days=1)
        p = price(symbol, session)
        return SessionBar(session, p, p, p, p)


# --- the emulator's resources ----------------------------------------------------------------------------


def create_resources(endpoint: str, visibility: int, max_receives: int) -> tuple[str, str]:
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    from tradebot_local.cfn import load_template
    from tradebot_local.provision import TEMPLATE, table_definitions

    tables = table_definitions(load_template(TEMPLATE))  # the schemas template.yaml deploys
    for name, logical in ((STATE, "StateTable"), (CONFIG, "ConfigTable"), (LEDGER, "LedgerTable")):
        ddb.create_table(TableName=name, **tables[logical])
    dlq_url = sqs.create_queue(QueueName=DLQ, Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": max_receives}
            ),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


# --- the executor processes -------------------------------------------------------------------------------


class EventLog:
    """The executor's logger, reduced to the events the check needs, appended to this worker's file."""

    EVENTS: ClassVar[dict[str, str]] = {
        "order filled": "filled",
        "duplicate delivery": "duplicate",
        "already filled or closed elsewhere": "duplicate",
        "order rejected": "rejected",
    }

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def write(self, event: str, **fields: Any) -> None:
        self._file.write(json.dumps({"e": event, **fields}) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        event = self.EVENTS.get(str(msg))
        if event is not None:
            self.write(event, o=(kwargs.get("extra") or {}).get("order_id"))

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.info(msg, *args, **kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.write("error", msg=str(msg))

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.write("error", msg=str(msg), detail=str((kwargs.get("extra") or {}).get("error", ""))[:300])


def crash(log: EventLog, where: str) -> None:
    log.write("crash", at=where)
    log.flush()
    os._exit(CRASH_EXIT)  # no cleanup, no delete, no goodbye: as SIGKILL


class CrashingSqs:
    """The SQS client under the executor's OrderQueue, with the calls OrderQueue makes: ReceiveMessage
    (each message's delivery logged), DeleteMessage (maybe dying first), ChangeMessageVisibilityBatch and
    GetQueueAttributes (unchanged). Any other call fails loudly: OrderQueue changed, so must this."""

    def __init__(self, sqs: Any, log: EventLog, rng: random.Random, rate: float) -> None:
        self._sqs, self._log, self._rng, self._rate = sqs, log, rng, rate

    def receive_message(self, **kwargs: Any) -> Any:
        response = self._sqs.receive_message(**kwargs)
        for message in response.get("Messages", []):
            self._log.write("received", m=message["MessageId"])
        return response

    def delete_message(self, **kwargs: Any) -> Any:
        if self._rng.random() < self._rate:
            crash(self._log, "after recording the outcome, before the delete")
        return self._sqs.delete_message(**kwargs)

    def change_message_visibility_batch(self, **kwargs: Any) -> Any:
        return self._sqs.change_message_visibility_batch(**kwargs)

    def get_queue_attributes(self, **kwargs: Any) -> Any:
        return self._sqs.get_queue_attributes(**kwargs)


class CrashingBroker:
    def __init__(self, broker: Any, log: EventLog, rng: random.Random, rate: float) -> None:
        self._broker, self._log, self._rng, self._rate = broker, log, rng, rate

    def execute(self, order: Any) -> Any:
        if self._rng.random() < self._rate:
            crash(self._log, "after accepting, before the fill")
        return self._broker.execute(order)


def worker(args: argparse.Namespace) -> int:
    """One executor process: ExecutorService (the loop) around OrderExecutor (one order's life), as
    tradebot.execution.service.build_service wires them, with the faults injected and a short poll."""
    from tradebot.clock import SystemClock
    from tradebot.execution.executor import OrderExecutor
    from tradebot.execution.service import ExecutorService, paper_broker
    from tradebot.store.accounts import AccountStore
    from tradebot.store.ledger import OrderLedger
    from tradebot.store.queue import OrderQueue
    from tradebot.store.trading_config import ConfigStore

    log = EventLog(Path(args.log))
    rng = random.Random(args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=args.endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=args.endpoint)
    clock = SystemClock()
    config = ConfigStore(CONFIG, ddb)
    broker = paper_broker(config.load(), SoakPrices(), clock)
    executor = OrderExecutor(
        ledger=OrderLedger(LEDGER, ddb),
        accounts=AccountStore(STATE, ddb),
        config=config,
        broker=CrashingBroker(broker, log, rng, args.crash_rate / 2),
        clock=clock,
        ddb=ddb,
        logger=log,
    )
    service = ExecutorService(
        queue=OrderQueue(args.queue_url, CrashingSqs(sqs, log, rng, args.crash_rate)),
        executor=executor,
        clock=clock,
        sleep=time.sleep,
        wait_time_seconds=1,
        logger=log,
        heartbeat=lambda: None,
        pending_interval_seconds=10.0,
        max_backoff_seconds=1.0,
        visibility_timeout_seconds=args.visibility,
    )
    log.write("started")
    service.run(stop)
    log.write("stopped")
    log.flush()
    return 0


# --- the run ----------------------------------------------------------------------------------------------


def make_orders(n: int, accounts: int, rng: random.Random) -> list[Any]:
    from tradebot.contracts import Order, order_id_for

    created = datetime(2024, 1, 1, tzinfo=UTC)
    orders = []
    for i in range(n):
        as_of = FIRST_SESSION + timedelta(days=i)  # one session per order: distinct deterministic ids
        account = f"acct-{i % accounts:02d}"
        symbol = rng.choice(SYMBOLS)
        side = "SELL" if rng.random() < 0.2 else "BUY"  # some sells exceed the position: REJECTED
        orders.append(
            Order(
                order_id=order_id_for(account, as_of, symbol, side),
                run_id=f"soak-{i // 50}",
                account=account,
                as_of=as_of,
                symbol=symbol,
                side=side,
                quantity=rng.randint(1, 20),
                reference_price=price(symbol, as_of),
                synthetic=True,
                created_at=created,
            )
        )
    return orders


class Producer:
    """Sends the orders as PaperTrade does (tradebot.store.queue.order_message: group = account, dedup id =
    order id), plus duplicates: a copy with the same dedup id right behind its original (SQS deduplication's
    job), or one with a new dedup id some messages later (a re-send after the 5-minute window: the
    executor's job). The queue is fed in waves of at most ``backlog`` messages, as daily runs would: moto's
    SQS does O(queue length) work per request, so one 2,000-message backlog would measure moto rather than
    the executor."""

    def __init__(
        self, sqs: Any, queue_url: str, orders: list[Any], dup_rate: float, rng: random.Random
    ) -> None:
        from tradebot.store.queue import order_message

        self._sqs, self._url = sqs, queue_url
        self.messages: list[dict[str, str]] = []  # SendMessage fields
        self.same_dedup = self.new_dedup = 0
        later: list[tuple[int, dict[str, str]]] = []
        for i, order in enumerate(orders):
            message = order_message(order)
            self.messages.append(message)
            if rng.random() < dup_rate:
                if rng.random() < 0.5:
                    self.messages.append(message)
                    self.same_dedup += 1
                else:
                    resent = {**message, "MessageDeduplicationId": f"{order.order_id}-resent"}
                    later.append((i + rng.randint(10, 200), resent))
                    self.new_dedup += 1
        for position, message in sorted(later, key=lambda x: x[0], reverse=True):
            self.messages.insert(min(position, len(self.messages)), message)
        self.sent = self.accepted = 0

    @property
    def done(self) -> bool:
        return self.sent == len(self.messages)

    def feed(self, depth: int, backlog: int) -> None:
        """Send up to ``backlog - depth`` more messages, in batches of 10."""
        room = backlog - depth
        while room > 0 and not self.done:
            batch = self.messages[self.sent : self.sent + min(10, room)]
            response = self._sqs.send_message_batch(
                QueueUrl=self._url, Entries=[{"Id": str(i), **message} for i, message in enumerate(batch)]
            )
            if response.get("Failed"):
                raise RuntimeError(f"send failed: {response['Failed']}")
            self.accepted += len(response.get("Successful", []))
            self.sent += len(batch)
            room -= len(batch)


def count_final(ddb: Any) -> int:
    """Orders in a final status (FILLED, REJECTED, CANCELLED), from the ledger's by_status index."""
    from tradebot.store.ledger import FINAL_STATUSES, OrderLedger

    ledger = OrderLedger(LEDGER, ddb)
    return sum(len(ledger.by_status(status)) for status in sorted(FINAL_STATUSES))


def queue_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def spawn(
    args: argparse.Namespace, endpoint: str, queue_url: str, log: Path, seed: int
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--endpoint",
        endpoint,
        "--queue-url",
        queue_url,
        "--log",
        str(log),
        "--seed",
        str(seed),
        "--crash-rate",
        str(args.crash_rate),
        "--visibility",
        str(args.visibility),
    ]
    # os.environ has the emulator's fake credentials (run)
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def check(ddb: Any, orders: list[Any], capital: float, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Final states from the ledger; double fills from the executors' fill events and the accounts."""
    from tradebot.store.accounts import AccountStore
    from tradebot.store.ledger import OrderLedger

    ledger = OrderLedger(LEDGER, ddb)
    statuses: Counter[str] = Counter()
    fills: dict[str, Any] = {}
    lost = 0
    for order in orders:
        entry = ledger.get(order.order_id)
        if entry is None or not entry.final:
            lost += 1
            continue
        statuses[entry.status] += 1
        if entry.fill is not None:
            fills[order.order_id] = (order.account, entry.fill)
    fill_events = Counter(e["o"] for e in events if e["e"] == "filled")
    double_filled = {o for o, n in fill_events.items() if n > 1}
    store = AccountStore(STATE, ddb)
    mismatched_accounts = 0
    for account in sorted({o.account for o in orders}):
        cash = capital
        held: Counter[str] = Counter()
        for acct, fill in fills.values():
            if acct != account:
                continue
            sign = 1 if fill.side == "BUY" else -1
            cash -= sign * fill.quantity * fill.price + fill.commission
            held[fill.symbol] += sign * fill.quantity
        portfolio = store.load(account, capital)
        positions = {s: p.quantity for s, p in portfolio.positions.items()}
        if abs(portfolio.cash - cash) > 1e-6 * capital or positions != {s: q for s, q in held.items() if q}:
            mismatched_accounts += 1
    unrecorded = {o for o in fill_events if o not in fills}  # a fill an executor saw that the ledger lacks
    return {
        "statuses": dict(statuses),
        "final": sum(statuses.values()),
        "lost": lost,
        "double_filled": len(double_filled | unrecorded) + mismatched_accounts,
        "mismatched_accounts": mismatched_accounts,
    }


class Supervisor:
    """Keeps ``args.executors`` executor processes running (a dead one is replaced, as ECS would) until
    every order is final and the queue is empty, or the deadline passes; then stops them with SIGTERM."""

    def __init__(self, args: argparse.Namespace, endpoint: str, queue_url: str, workdir: Path) -> None:
        self.args, self.endpoint, self.queue_url, self.workdir = args, endpoint, queue_url, workdir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.logs: list[Path] = []
        self.crashes = self.exits = 0

    def start(self, slot: int) -> None:
        log = self.workdir / f"executor-{slot}-{len(self.logs)}.jsonl"
        self.logs.append(log)
        self.procs[slot] = spawn(
            self.args, self.endpoint, self.queue_url, log, self.args.seed * 1000 + len(self.logs)
        )

    def replace_dead(self) -> None:
        for slot, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            if code == CRASH_EXIT:
                self.crashes += 1
            else:
                self.exits += 1
            self.start(slot)

    def run_until_settled(self, ddb: Any, sqs: Any, producer: Producer, n: int) -> float | None:
        """Seconds until every order was final and the queue empty; None if the deadline came first."""
        started = time.monotonic()
        producer.feed(0, self.args.backlog)
        for slot in range(self.args.executors):
            self.start(slot)
        last_check = 0.0
        while time.monotonic() < started + self.args.timeout:
            self.replace_dead()
            now = time.monotonic()
            if now - last_check >= 0.5:
                last_check = now
                depth = queue_depth(sqs, self.queue_url)
                producer.feed(depth, self.args.backlog)
                final = count_final(ddb) if producer.done and depth == 0 else -1  # (a costly query)
                if self.args.progress:
                    print(
                        f"  {now - started:6.1f} s  sent {producer.sent}  queue {depth}  final {final}",
                        flush=True,
                    )
                if final == n and depth == 0:
                    return now - started
            time.sleep(0.1)
        return None

    def stop(self) -> None:
        """Graceful: SIGTERM (finish in-flight messages, receive no more), then SIGKILL after 30 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def events(self) -> list[dict[str, Any]]:
        return [
            json.loads(line) for log in self.logs if log.exists() for line in log.read_text().splitlines()
        ]


def run(args: argparse.Namespace) -> int:
    from tradebot.store.ledger import OrderLedger
    from tradebot.store.trading_config import ConfigStore
    from tradebot.trading.config import RiskLimits, TradingConfig
    from tradebot_local.emulator import FAKE_CREDENTIALS, start_server

    os.environ.update(FAKE_CREDENTIALS)  # never real AWS; inherited by the executors
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    rng = random.Random(args.seed)
    server, endpoint = start_server()
    supervisor: Supervisor | None = None
    try:
        queue_url, dlq_url = create_resources(endpoint, args.visibility, args.max_receives)
        ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        capital = 1_000_000.0
        ConfigStore(CONFIG, ddb).save(TradingConfig(risk=RiskLimits(initial_capital=capital)))
        orders = make_orders(args.orders, args.accounts, rng)
        ledger = OrderLedger(LEDGER, ddb)
        for order in orders:  # as PaperTrade does: record NEW, then send
            ledger.record_new(order, datetime(2024, 1, 1, 21, tzinfo=UTC))
        producer = Producer(sqs, queue_url, orders, args.dup_rate, rng)
        print(
            f"emulator {endpoint}; {len(orders)} orders, {len(producer.messages)} messages "
            f"({producer.same_dedup} re-sent with the same dedup id, {producer.new_dedup} with a new one), "
            f"backlog <= {args.backlog}; {args.executors} executors, "
            f"crash rate {args.crash_rate:g} per delete",
            flush=True,
        )
        started = time.monotonic()
        supervisor = Supervisor(args, endpoint, queue_url, Path(tempfile.mkdtemp(prefix="executor-soak-")))
        settled = supervisor.run_until_settled(ddb, sqs, producer, len(orders))
        elapsed = settled if settled is not None else time.monotonic() - started
        supervisor.stop()
        events = supervisor.events()
        result = check(ddb, orders, capital, events)
        counts = Counter(e["e"] for e in events)
        distinct = len({e["m"] for e in events if e["e"] == "received"})
        sqs_dups, executor_dups = producer.accepted - distinct, counts["duplicate"]
        print(
            f"deliveries {counts['received']} ({distinct} distinct messages); fills {counts['filled']}; "
            f"rejections {counts['rejected']}; crashes {supervisor.crashes} "
            f"(other exits {supervisor.exits}); "
            f"processing errors retried {counts['error']}; DLQ {queue_depth(sqs, dlq_url)}; "
            f"{'settled in' if settled is not None else 'TIMED OUT after'} {elapsed:.1f} s",
            flush=True,
        )
        statuses = " ".join(f"{k}={v}" for k, v in sorted(result["statuses"].items()))
        print(
            f"sent={len(orders)} final_states={result['final']} ({statuses}) "
            f"duplicates_suppressed={executor_dups + sqs_dups} (executor {executor_dups}, sqs {sqs_dups}) "
            f"lost={result['lost']} double_filled={result['double_filled']} "
            f"orders_per_second={len(orders) / elapsed:.1f}",
            flush=True,
        )
        return 0 if result["lost"] == 0 and result["double_filled"] == 0 and settled is not None else 1
    finally:
        if supervisor is not None:
            for proc in supervisor.procs.values():
                if proc.poll() is None:
                    proc.kill()
        server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=20, help="message groups (FIFO order is per account)")
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--dup-rate", type=float, default=0.15, help="fraction of orders sent twice")
    parser.add_argument("--crash-rate", type=float, default=0.01, help="chance an executor dies at a delete")
    parser.add_argument("--visibility", type=int, default=3, help="queue visibility timeout, seconds")
    parser.add_argument("--backlog", type=int, default=200, help="most messages on the queue at once")
    parser.add_argument("--max-receives", type=int, default=10, help="deliveries before the DLQ")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", action="store_true", help="print progress every second")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--queue-url", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        sys.exit(worker(arguments))
    code = run(arguments)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown of moto's state: over a minute after 2,000 orders
