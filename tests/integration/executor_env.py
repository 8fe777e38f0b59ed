"""Shared moto environment of the executor, placement and fault-injection tests: tables shaped like
template.yaml's, a FIFO orders queue, fake next-session prices and a recording logger."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from tests.aws import create_tables
from tradebot.calendar import get_calendar
from tradebot.clock import FixedClock
from tradebot.contracts import Order, Signal, SignalsDocument, order_id_for
from tradebot.execution.broker import PaperBroker, SessionBar
from tradebot.execution.executor import ExecutorReport, OrderExecutor
from tradebot.execution.service import ExecutorService
from tradebot.pipeline.trade import Placement, place_orders
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import FINAL_STATUSES, OrderLedger
from tradebot.store.queue import OrderQueue, order_message
from tradebot.store.trading_config import ConfigStore
from tradebot.trading.config import RiskLimits, TradingConfig

LEDGER = "LedgerTable"
STATE = "StateTable"
CONFIG = "ConfigTable"
NOW = datetime(2024, 3, 8, 21, 30, tzinfo=UTC)
AS_OF = date(2024, 3, 8)  # Friday
NEXT = date(2024, 3, 11)  # Monday: the fills' session
CAPITAL = 10_000.0


class FakePrices:
    """Next-session bars by symbol: the prices of ``bars[symbol]`` if set, else a flat bar at ``opens``;
    neither: no price yet. The bar is dated on the NYSE session after ``after`` (whatever session a test
    stored it under): these fakes say what the next session's prices are, for any decision date."""

    def __init__(self, opens: dict[str, float]) -> None:
        self.opens = dict(opens)
        self.bars: dict[str, SessionBar] = {}
        # the decision session's close as the source has it now, by symbol (unset: not known, not checked)
        self.closes: dict[str, float] = {}

    def close_on(self, symbol: str, session: date) -> float | None:
        return self.closes.get(symbol)

    def next_bar(self, symbol: str, after: date) -> SessionBar | None:
        session = get_calendar().next_session(after)
        if symbol in self.bars:
            return replace(self.bars[symbol], session=session)
        price = self.opens.get(symbol)
        return None if price is None else SessionBar(session, price, price, price, price)


def signal(symbol: str, weight: float, close: float, as_of: date = AS_OF) -> Signal:
    return Signal(
        symbol=symbol,
        strategy="sma_crossover",
        params={"fast": 10, "slow": 30},
        target_weight=weight,
        reason="test",
        close=close,
        bar_date=as_of,
    )


class RecordingLogger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str, msg: object, **kwargs: Any) -> None:
        self.records.append((level, str(msg), dict(kwargs.get("extra") or {})))

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log("info", msg, **kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log("warning", msg, **kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log("error", msg, **kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log("exception", msg, **kwargs)

    def messages(self, level: str) -> list[str]:
        return [m for lvl, m, _ in self.records if lvl == level]


class Env:
    """moto resources and helpers shared by the tests."""

    def __init__(self) -> None:
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        create_tables(self.ddb, LEDGER, STATE, CONFIG)
        self.queue_url = self.sqs.create_queue(
            QueueName="orders.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"},
        )["QueueUrl"]
        self.ledger = OrderLedger(LEDGER, self.ddb)
        self.accounts = AccountStore(STATE, self.ddb)
        self.config = ConfigStore(CONFIG, self.ddb)
        self.config.save(TradingConfig(risk=RiskLimits(initial_capital=CAPITAL)))
        self.prices = FakePrices({"SPY": 100.0, "QQQ": 50.0, "IWM": 20.0})
        self.clock = FixedClock(datetime(2024, 3, 11, 15, tzinfo=UTC))
        self.sleeps: list[float] = []
        self.beats = 0
        self.logger = RecordingLogger()
        self.orders: list[Order] = []  # every order the test expects in the ledger
        self.sent: list[Order] = []  # every order sent by send_orders (duplicates included)

    def order_executor(self, broker: Any = None) -> OrderExecutor:
        return OrderExecutor(
            ledger=self.ledger,
            accounts=self.accounts,
            config=self.config,
            broker=broker or PaperBroker(self.prices, commission_rate=0.001, slippage_bps=0.0),
            clock=self.clock,
            ddb=self.ddb,
            logger=self.logger,
        )

    def executor(
        self, *, sqs: Any = None, broker: Any = None, max_messages: int = 10, **kwargs: Any
    ) -> ExecutorService:
        return ExecutorService(
            queue=OrderQueue(self.queue_url, sqs or self.sqs),
            executor=self.order_executor(broker),
            clock=self.clock,
            sleep=self.sleeps.append,
            wait_time_seconds=0,
            max_messages=max_messages,
            logger=self.logger,
            heartbeat=self.beat,
            **kwargs,
        )

    def beat(self) -> None:
        self.beats += 1

    def order(
        self,
        side: str,
        quantity: int,
        symbol: str = "SPY",
        account: str = "paper",
        *,
        as_of: date = AS_OF,
        reference_price: float = 100.0,
    ) -> Order:
        order = Order(
            order_id=order_id_for(account, as_of, symbol, side),
            run_id="run-1",
            account=account,
            as_of=as_of,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            quantity=quantity,
            reference_price=reference_price,
            synthetic=True,
            created_at=NOW,
        )
        self.orders.append(order)
        return order

    def send(self, order: Order, *, record: bool = True, dedup: str | None = None) -> None:
        """What PaperTrade does: record NEW, then send (group = account, dedup id = order id)."""
        if record:
            self.ledger.record_new(order, NOW)
        message = order_message(order)
        self.send_body(message["MessageBody"], order.account, dedup or order.order_id)

    def send_orders(self, orders: list[Order]) -> None:
        """What PaperTrade's send does (tradebot.store.queue)."""
        self.sent.extend(orders)
        OrderQueue(self.queue_url, self.sqs).send(orders)

    def place(
        self,
        signals: list[Signal],
        *,
        as_of: date = AS_OF,
        run_id: str = "run-1",
        previous_session: date | None = None,
        send: Any = None,
        ledger: Any = None,
    ) -> Placement:
        """PaperTrade's core against this environment; its orders join ``self.orders``. The ``signals`` are
        the session's targets and closes: they are dated ``as_of`` (the tests reuse them across sessions)."""
        session = [s.model_copy(update={"bar_date": as_of}) for s in signals]
        result = place_orders(
            SignalsDocument(run_id=run_id, as_of=as_of, signals=session),
            synthetic=True,
            config=self.config.load(),
            account="paper",
            accounts=self.accounts,
            ledger=ledger or self.ledger,
            send=send or self.send_orders,
            now=self.clock.now(),
            previous_session=previous_session,
        )
        known = {o.order_id for o in self.orders}
        self.orders.extend(o for o in result.orders if o.order_id not in known)
        return result

    def send_body(self, body: str, group: str, dedup: str) -> None:
        self.sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup
        )

    def queue_counts(self) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def status(self, order: Order) -> tuple[str, str]:
        entry = self.ledger.get(order.order_id)
        assert entry is not None
        return entry.status, entry.reason

    def assert_consistent(
        self, *, pending: frozenset[str] = frozenset(), accounts: tuple[str, ...] = ("paper",)
    ) -> None:
        """Every order recorded once, final (or ACCEPTED if listed as pending); the account = the sum of
        its fills, with each split applied to the shares filled before its ex-date (and its cash in lieu)."""
        entries = {e.order.order_id: e for e in self.ledger.list_orders()}
        assert set(entries) == {o.order_id for o in self.orders}
        for order_id, entry in entries.items():
            if order_id in pending:
                assert entry.status == "ACCEPTED" and entry.fill is None
            else:
                assert entry.status in FINAL_STATUSES
                assert (entry.fill is not None) == (entry.status == "FILLED")
        for account in accounts:
            cash = CAPITAL
            held: dict[str, int] = {}
            # fills and splits in session order (a split at ex-date E comes before E's fills)
            events: list[tuple[date, int, Any]] = [(r.ex_date, 0, r) for r in self.accounts.splits(account)]
            events += [
                (e.fill.session, 1, e.fill)
                for e in entries.values()
                if e.order.account == account and e.fill is not None
            ]
            for _, kind, event in sorted(events, key=lambda x: (x[0], x[1])):
                if kind == 0:
                    cash += event.cash_in_lieu
                    held[event.symbol] = math.floor(held.get(event.symbol, 0) * event.fraction)
                    continue
                sign = 1 if event.side == "BUY" else -1
                cash -= sign * event.quantity * event.price + event.commission
                held[event.symbol] = held.get(event.symbol, 0) + sign * event.quantity
            portfolio = self.accounts.load(account, CAPITAL)
            assert portfolio.cash == pytest.approx(cash, abs=1e-6)
            assert {s: p.quantity for s, p in portfolio.positions.items()} == {
                s: q for s, q in held.items() if q
            }


def filled_ids(report: ExecutorReport) -> list[str]:
    return [f.order_id for f in report.filled]
