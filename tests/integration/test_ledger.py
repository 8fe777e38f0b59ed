"""The order ledger and the paper account against moto's DynamoDB: conditional transitions, the fill
transaction (ledger + cash + position together, or nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.aws import create_tables, fake_aws
from tradebot.contracts import Fill, Order, order_id_for
from tradebot.errors import RetryableError
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.store.settlement import FillOutcome, apply_fill

LEDGER = "LedgerTable"
STATE = "StateTable"
NOW = datetime(2024, 3, 8, 21, 30, tzinfo=UTC)
AS_OF = date(2024, 3, 8)
NEXT = date(2024, 3, 11)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with fake_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, LEDGER, STATE)
        yield client


@pytest.fixture
def ledger(ddb: Any) -> OrderLedger:
    return OrderLedger(LEDGER, ddb)


@pytest.fixture
def store(ddb: Any) -> AccountStore:
    return AccountStore(STATE, ddb)


def make_order(
    side: str = "BUY", quantity: int = 10, symbol: str = "SPY", as_of: date = AS_OF, run_id: str = "run-1"
) -> Order:
    return Order(
        order_id=order_id_for("paper", as_of, symbol, side),
        run_id=run_id,
        account="paper",
        as_of=as_of,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        reference_price=100.0,
        synthetic=True,
        created_at=NOW,
    )


def make_fill(order: Order, price: float = 100.0, commission: float = 1.0) -> Fill:
    return Fill(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        price=price,
        commission=commission,
        session=NEXT,
    )


# --- ledger transitions ----------------------------------------------------------------------------------


def test_record_new_is_conditional(ledger: OrderLedger) -> None:
    order = make_order()
    assert ledger.record_new(order, NOW) is True
    assert ledger.record_new(order, NOW + timedelta(seconds=1)) is False
    entry = ledger.get(order.order_id)
    assert entry is not None
    assert (entry.order, entry.status, entry.reason, entry.fill, entry.updated_at) == (
        order,
        "NEW",
        "",
        None,
        NOW,
    )
    assert ledger.get("0" * 24) is None


def test_each_transition_happens_exactly_once(ledger: OrderLedger) -> None:
    order = make_order()
    ledger.record_new(order, NOW)
    later = NOW + timedelta(minutes=1)
    assert ledger.accept(order.order_id, later) is True
    assert ledger.accept(order.order_id, later) is False
    assert ledger.reject(order.order_id, "insufficient cash", later) is True
    assert ledger.reject(order.order_id, "again", later) is False
    assert ledger.cancel(order.order_id, "too late", later) is False
    assert ledger.accept(order.order_id, later) is False
    entry = ledger.get(order.order_id)
    assert entry is not None
    assert (entry.status, entry.reason, entry.updated_at) == ("REJECTED", "insufficient cash", later)


def test_cancel_from_new_and_unknown_ids(ledger: OrderLedger) -> None:
    order = make_order()
    ledger.record_new(order, NOW)
    assert ledger.cancel(order.order_id, "operator", NOW) is True
    assert ledger.accept(order.order_id, NOW) is False
    unknown = "f" * 24
    assert ledger.accept(unknown, NOW) is False
    assert ledger.reject(unknown, "x", NOW) is False
    assert ledger.cancel(unknown, "x", NOW) is False
    assert ledger.get(unknown) is None  # a failed transition does not create an item


def test_list_orders_and_by_status(ledger: OrderLedger) -> None:
    a = make_order("BUY", symbol="SPY")
    b = make_order("SELL", symbol="QQQ")
    c = make_order("BUY", symbol="SPY", as_of=NEXT, run_id="run-2")
    for order in (a, b, c):
        ledger.record_new(order, NOW)
    ledger.accept(b.order_id, NOW)
    assert [e.order.order_id for e in ledger.by_status("NEW")] == [a.order_id, c.order_id]
    assert [e.order.order_id for e in ledger.by_status("ACCEPTED")] == [b.order_id]
    assert ledger.by_status("FILLED") == []
    everything = ledger.list_orders()
    assert {e.order.order_id for e in everything} == {a.order_id, b.order_id, c.order_id}
    assert [e.order.as_of for e in everything] == [AS_OF, AS_OF, NEXT]
    assert {e.order.order_id for e in ledger.list_orders(as_of=AS_OF)} == {a.order_id, b.order_id}
    assert [e.order.order_id for e in ledger.list_orders(run_id="run-2")] == [c.order_id]
    assert ledger.list_orders(as_of=AS_OF, run_id="run-2") == []


def test_item_layout(ddb: Any, ledger: OrderLedger) -> None:
    order = make_order()
    ledger.record_new(order, NOW)
    item = ddb.get_item(TableName=LEDGER, Key={"pk": {"S": f"ORDER#{order.order_id}"}, "sk": {"S": "ORDER"}})[
        "Item"
    ]
    assert item["status"] == {"S": "NEW"}
    assert item["as_of"] == {"S": "2024-03-08"}
    assert Order.model_validate_json(item["order"]["S"]) == order


# --- the paper account ---------------------------------------------------------------------------------


def test_load_creates_the_account_once(store: AccountStore) -> None:
    first = store.load("paper", 10_000.0)
    assert (first.account, first.cash, first.positions) == ("paper", 10_000.0, {})
    assert store.load("paper", 99.0).cash == 10_000.0  # existing account: initial capital ignored
    assert store.ensure("paper", 5.0) is False


def settle(ddb: Any, store: AccountStore, order: Order, fill: Fill, ledger: OrderLedger) -> FillOutcome:
    return apply_fill(ddb, order, fill, ledger=ledger, accounts=store, now=NOW)


def fill_order(ledger: OrderLedger, store: AccountStore, order: Order, fill: Fill) -> FillOutcome:
    ledger.record_new(order, NOW)
    ledger.accept(order.order_id, NOW)
    return settle(boto3.client("dynamodb", region_name="us-east-1"), store, order, fill, ledger)


def test_fill_updates_ledger_cash_and_position_together(
    ddb: Any, ledger: OrderLedger, store: AccountStore
) -> None:
    store.load("paper", 10_000.0)
    buy = make_order("BUY", 10)
    fill = make_fill(buy, price=100.0, commission=1.0)
    assert fill_order(ledger, store, buy, fill) is FillOutcome.FILLED
    entry = ledger.get(buy.order_id)
    assert entry is not None
    assert (entry.status, entry.fill) == ("FILLED", fill)
    portfolio = store.load("paper", 10_000.0)
    assert portfolio.cash == pytest.approx(10_000.0 - 1000.0 - 1.0)
    assert portfolio.positions["SPY"].quantity == 10
    assert portfolio.positions["SPY"].avg_price == pytest.approx(100.0)
    # the same fill again: the ledger is no longer ACCEPTED, nothing else moves
    assert settle(ddb, store, buy, fill, ledger) is FillOutcome.DUPLICATE
    assert store.load("paper", 10_000.0) == portfolio


def test_average_price_on_buys_and_sells(ledger: OrderLedger, store: AccountStore) -> None:
    store.load("paper", 100_000.0)
    b1 = make_order("BUY", 10, as_of=date(2024, 3, 4))
    b2 = make_order("BUY", 30, as_of=date(2024, 3, 5))
    s1 = make_order("SELL", 25, as_of=date(2024, 3, 6))
    s2 = make_order("SELL", 15, as_of=date(2024, 3, 7))
    b3 = make_order("BUY", 5, as_of=date(2024, 3, 8))
    assert fill_order(ledger, store, b1, make_fill(b1, 100.0, 0.5)) is FillOutcome.FILLED
    assert fill_order(ledger, store, b2, make_fill(b2, 120.0, 0.5)) is FillOutcome.FILLED
    assert store.load("paper", 0.1).positions["SPY"].avg_price == pytest.approx((1000 + 3600) / 40)
    assert fill_order(ledger, store, s1, make_fill(s1, 130.0, 0.5)) is FillOutcome.FILLED
    held = store.load("paper", 0.1).positions["SPY"]
    assert (held.quantity, held.avg_price) == (15, pytest.approx(115.0))  # sells keep the average
    assert fill_order(ledger, store, s2, make_fill(s2, 90.0, 0.5)) is FillOutcome.FILLED
    assert "SPY" not in store.load("paper", 0.1).positions  # sold out: not an open position
    assert fill_order(ledger, store, b3, make_fill(b3, 50.0, 0.5)) is FillOutcome.FILLED
    held = store.load("paper", 0.1).positions["SPY"]
    assert (held.quantity, held.avg_price) == (5, pytest.approx(50.0))
    expected = 100_000.0 - 1000 - 3600 + 25 * 130 + 15 * 90 - 5 * 50 - 5 * 0.5
    assert store.load("paper", 0.1).cash == pytest.approx(expected)


def test_insufficient_cash_writes_nothing(ddb: Any, ledger: OrderLedger, store: AccountStore) -> None:
    store.load("paper", 1_000.0)
    buy = make_order("BUY", 10)
    assert fill_order(ledger, store, buy, make_fill(buy, 100.0, 0.01)) is FillOutcome.INSUFFICIENT_CASH
    entry = ledger.get(buy.order_id)
    assert entry is not None and entry.status == "ACCEPTED"  # the caller rejects it
    assert store.load("paper", 1_000.0) == store.load("paper", 1.0)
    assert store.load("paper", 1.0).cash == 1_000.0
    assert store.load("paper", 1.0).positions == {}
    # exactly enough cash fills
    assert settle(ddb, store, buy, make_fill(buy, 99.9, 1.0), ledger) is FillOutcome.FILLED
    assert store.load("paper", 1.0).cash == pytest.approx(0.0)


def test_sell_exceeding_the_position_writes_nothing(
    ddb: Any, ledger: OrderLedger, store: AccountStore
) -> None:
    store.load("paper", 10_000.0)
    sell = make_order("SELL", 5)
    assert fill_order(ledger, store, sell, make_fill(sell)) is FillOutcome.SELL_EXCEEDS_POSITION  # none held
    buy = make_order("BUY", 3, as_of=date(2024, 3, 7))
    assert fill_order(ledger, store, buy, make_fill(buy, 100.0, 0.0)) is FillOutcome.FILLED
    assert settle(ddb, store, sell, make_fill(sell), ledger) is FillOutcome.SELL_EXCEEDS_POSITION
    portfolio = store.load("paper", 1.0)
    assert portfolio.cash == pytest.approx(9_700.0)
    assert portfolio.positions["SPY"].quantity == 3
    entry = ledger.get(sell.order_id)
    assert entry is not None and entry.status == "ACCEPTED"


def test_fill_of_an_order_not_accepted_is_a_duplicate(
    ddb: Any, ledger: OrderLedger, store: AccountStore
) -> None:
    store.load("paper", 10_000.0)
    order = make_order()
    ledger.record_new(order, NOW)  # still NEW
    assert settle(ddb, store, order, make_fill(order), ledger) is FillOutcome.DUPLICATE
    ledger.accept(order.order_id, NOW)
    ledger.reject(order.order_id, "kill switch: test", NOW)
    assert settle(ddb, store, order, make_fill(order), ledger) is FillOutcome.DUPLICATE
    assert store.load("paper", 1.0).cash == 10_000.0


def test_a_fill_for_another_order_is_refused(ddb: Any, ledger: OrderLedger, store: AccountStore) -> None:
    order = make_order()
    with pytest.raises(ValueError):
        settle(ddb, store, order, make_fill(make_order("SELL")), ledger)


class RacingDdb:
    """Runs ``before`` just before the first transaction: a concurrent fill on the same position."""

    def __init__(self, ddb: Any, before: Any) -> None:
        self._ddb = ddb
        self._before = before
        self.transactions = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            self._before()
        return self._ddb.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ddb, name)


def test_concurrent_buys_of_one_symbol_keep_the_average_right(ddb: Any, ledger: OrderLedger) -> None:
    plain = AccountStore(STATE, ddb)
    plain.load("paper", 100_000.0)
    first = make_order("BUY", 10, as_of=date(2024, 3, 7))
    second = make_order("BUY", 30)
    for order in (first, second):
        ledger.record_new(order, NOW)
        ledger.accept(order.order_id, NOW)
    racing_ddb = RacingDdb(ddb, lambda: settle(ddb, plain, first, make_fill(first, 100.0, 0.0), ledger))
    racing = AccountStore(STATE, racing_ddb)
    assert settle(racing_ddb, racing, second, make_fill(second, 120.0, 0.0), ledger) is FillOutcome.FILLED
    assert racing_ddb.transactions == 2  # the version moved under the first attempt: re-read and retried
    held = plain.load("paper", 1.0).positions["SPY"]
    assert (held.quantity, held.avg_price) == (40, pytest.approx((1000 + 3600) / 40))
    assert plain.load("paper", 1.0).cash == pytest.approx(100_000.0 - 4600.0)


class AlwaysConflicting:
    def __init__(self, ddb: Any) -> None:
        self._ddb = ddb

    def transact_write_items(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ddb, name)


def test_endless_conflicts_are_retryable(ddb: Any, ledger: OrderLedger) -> None:
    conflicting = AlwaysConflicting(ddb)
    store = AccountStore(STATE, conflicting)
    store.load("paper", 10_000.0)
    order = make_order()
    ledger.record_new(order, NOW)
    ledger.accept(order.order_id, NOW)
    with pytest.raises(RetryableError):
        settle(conflicting, store, order, make_fill(order), ledger)


def test_reset(ledger: OrderLedger, store: AccountStore) -> None:
    store.load("paper", 10_000.0)
    buy = make_order("BUY", 10)
    fill_order(ledger, store, buy, make_fill(buy))
    store.load("other", 5.0)
    store.reset("paper", 2_000.0)
    assert store.load("paper", 1.0).cash == 2_000.0
    assert store.load("paper", 1.0).positions == {}
    assert store.load("other", 1.0).cash == 5.0  # other accounts untouched
    entry = ledger.get(buy.order_id)
    assert entry is not None and entry.status == "FILLED"  # the ledger is history: untouched


def test_default_clients_come_from_tradebot_aws(ddb: Any) -> None:
    order = make_order()
    assert OrderLedger(LEDGER).record_new(order, NOW) is True
    assert AccountStore(STATE).load("paper", 1.0).cash == 1.0
    assert OrderLedger(LEDGER, ddb).get(order.order_id) is not None
