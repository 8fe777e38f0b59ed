"""The Alpaca paper-trading broker against faked HTTP (``responses``; no network) and moto's Secrets
Manager: one submit per order id, status mapping, errors, keys never leaked, and the executor on top."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
import responses
from responses import matchers

from tests.integration.executor_env import CONFIG, LEDGER, STATE, Env
from tradebot.contracts import Order
from tradebot.errors import ConfigurationError, RetryableError
from tradebot.execution.alpaca import AlpacaBroker, load_keys
from tradebot.execution.broker import ExecutionStatus
from tradebot.execution.service import build_broker
from tradebot.settings import Settings
from tradebot.trading.config import ExecutionSettings, RiskLimits, TradingConfig

BASE = "https://paper-api.alpaca.markets/v2"
KEY, SECRET = "PKTESTKEY", "s3cr3t-value-never-logged"


@pytest.fixture
def secret_arn(env: Env) -> str:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    value = {"broker_api_key": KEY, "broker_api_secret": SECRET, "data_provider_api_key": ""}
    return str(sm.create_secret(Name="broker-alpaca", SecretString=json.dumps(value))["ARN"])


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def broker(secret_arn: str) -> AlpacaBroker:
    return AlpacaBroker.from_secret(secret_arn)


def remote(order: Order, status: str, filled_qty: int = 0, price: float | None = None) -> dict[str, Any]:
    """An Alpaca order as its API returns it."""
    stamp = "2024-03-11T14:30:05.123456Z"
    return {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": order.order_id,
        "created_at": "2024-03-08T21:31:00Z",
        "updated_at": stamp,
        "submitted_at": "2024-03-08T21:31:00Z",
        "filled_at": stamp if filled_qty else None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": str(order.quantity),
        "filled_qty": str(filled_qty),
        "filled_avg_price": None if price is None else str(price),
        "order_class": "simple",
        "order_type": order.order_type.lower(),
        "type": order.order_type.lower(),
        "side": order.side.lower(),
        "time_in_force": "day",
        "limit_price": None if order.limit_price is None else str(order.limit_price),
        "stop_price": None,
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }


NOT_FOUND = {"code": 40410000, "message": "order not found"}


class FakeAlpaca:
    """Alpaca's two order endpoints with state: a submitted order is found by its client_order_id."""

    def __init__(self, http: responses.RequestsMock, orders: dict[str, Order]) -> None:
        self.orders = orders  # client_order_id -> our order (to render Alpaca's view of it)
        self.placed: dict[str, dict[str, Any]] = {}
        self.posts = 0
        http.add_callback(responses.GET, f"{BASE}/orders:by_client_order_id", callback=self._get)
        http.add_callback(responses.POST, f"{BASE}/orders", callback=self._post)

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        client_id = request.params["client_order_id"]
        if client_id not in self.placed:
            return 404, {}, json.dumps(NOT_FOUND)
        return 200, {}, json.dumps(self.placed[client_id])

    def _post(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.posts += 1
        client_id = json.loads(request.body)["client_order_id"]
        self.placed[client_id] = remote(self.orders[client_id], "accepted")
        return 200, {}, json.dumps(self.placed[client_id])

    def fill(self, order: Order, price: float) -> None:
        self.placed[order.order_id] = remote(order, "filled", filled_qty=order.quantity, price=price)


def lookup(http: responses.RequestsMock, order: Order, status: int = 200, body: Any = None) -> None:
    http.get(
        f"{BASE}/orders:by_client_order_id",
        match=[matchers.query_param_matcher({"client_order_id": order.order_id})],
        json=body if body is not None else NOT_FOUND,
        status=status,
    )


def calls(http: responses.RequestsMock, method: str) -> list[Any]:
    return [c for c in http.calls if c.request.method == method]


def test_a_new_order_is_submitted_once_with_its_id_as_client_order_id(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker
) -> None:
    order = env.order("BUY", 10)
    lookup(http, order, 404)
    http.post(f"{BASE}/orders", json=remote(order, "accepted"))
    execution = broker.execute(order)
    assert (execution.status, execution.reason) == (ExecutionStatus.PENDING, "alpaca: order accepted")
    (post,) = calls(http, "POST")
    assert json.loads(post.request.body) == {
        "symbol": "SPY",
        "qty": 10.0,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": order.order_id,
    }
    assert post.request.headers["APCA-API-KEY-ID"] == KEY
    # asked again later: found filled at Alpaca, never submitted twice
    http.replace(
        responses.GET,
        f"{BASE}/orders:by_client_order_id",
        json=remote(order, "filled", filled_qty=10, price=100.25),
    )
    execution = broker.execute(order)
    assert execution.status is ExecutionStatus.FILLED and execution.fill is not None
    fill = execution.fill
    assert (fill.quantity, fill.price, fill.commission, fill.session.isoformat()) == (
        10,
        100.25,
        0.0,
        "2024-03-11",
    )
    assert len(calls(http, "POST")) == 1


def test_a_limit_order_carries_its_limit(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker
) -> None:
    order = env.order("SELL", 3).model_copy(update={"order_type": "LIMIT", "limit_price": 99.5})
    lookup(http, order, 404)
    http.post(f"{BASE}/orders", json=remote(order, "new"))
    assert broker.execute(order).status is ExecutionStatus.PENDING
    body = json.loads(calls(http, "POST")[0].request.body)
    assert (body["type"], body["limit_price"], body["side"]) == ("limit", 99.5, "sell")


@pytest.mark.parametrize(
    ("status", "filled_qty", "expected", "reason"),
    [
        ("expired", 0, ExecutionStatus.CANCELLED, "alpaca: order expired"),
        ("canceled", 0, ExecutionStatus.CANCELLED, "alpaca: order canceled"),
        ("done_for_day", 0, ExecutionStatus.CANCELLED, "alpaca: order done_for_day"),
        ("rejected", 0, ExecutionStatus.REJECTED, "alpaca: order rejected"),
        ("partially_filled", 4, ExecutionStatus.PENDING, "alpaca: order partially_filled"),
        ("canceled", 4, ExecutionStatus.FILLED, ""),  # the part that filled is the fill
    ],
)
def test_alpaca_statuses(
    env: Env,
    http: responses.RequestsMock,
    broker: AlpacaBroker,
    status: str,
    filled_qty: int,
    expected: ExecutionStatus,
    reason: str,
) -> None:
    order = env.order("BUY", 10)
    lookup(http, order, body=remote(order, status, filled_qty, 10.0 if filled_qty else None))
    execution = broker.execute(order)
    assert (execution.status, execution.reason) == (expected, reason)
    if expected is ExecutionStatus.FILLED:
        assert execution.fill is not None and execution.fill.quantity == filled_qty
    assert calls(http, "POST") == []


def test_a_refused_submit_is_a_rejection_with_alpacas_reason(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker
) -> None:
    order = env.order("BUY", 10_000)
    lookup(http, order, 404)
    http.post(f"{BASE}/orders", status=403, json={"code": 40310000, "message": "insufficient buying power"})
    execution = broker.execute(order)
    assert execution.status is ExecutionStatus.REJECTED
    assert execution.reason == "alpaca refused the order (403): insufficient buying power"


def test_a_submit_that_lost_a_race_uses_the_order_already_placed(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker
) -> None:
    order = env.order("BUY", 10)
    lookup(http, order, 404)
    lookup(http, order, body=remote(order, "accepted"))  # the second lookup finds the other executor's
    http.post(
        f"{BASE}/orders", status=422, json={"code": 40010001, "message": "client_order_id must be unique"}
    )
    assert broker.execute(order).status is ExecutionStatus.PENDING


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, {"code": 50010000, "message": "internal"}, RetryableError),
        (503, {"code": 50010000, "message": "unavailable"}, RetryableError),
        (401, {"code": 40110000, "message": "request is not authorized"}, ConfigurationError),
    ],
)
def test_server_errors_retry_and_bad_keys_are_configuration_errors(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker, status: int, body: Any, error: type
) -> None:
    order = env.order("BUY", 1)
    lookup(http, order, status, body)
    with pytest.raises(error) as raised:
        broker.execute(order)
    assert SECRET not in str(raised.value) and KEY not in str(raised.value)


def test_a_network_failure_is_retryable(env: Env, http: responses.RequestsMock, broker: AlpacaBroker) -> None:
    order = env.order("BUY", 1)
    http.get(f"{BASE}/orders:by_client_order_id", body=requests.ConnectionError("connection reset"))
    with pytest.raises(RetryableError):
        broker.execute(order)


@pytest.mark.parametrize(
    "value",
    [{"broker_api_key": "", "broker_api_secret": SECRET}, {"broker_api_key": KEY}, ["not", "an", "object"]],
)
def test_missing_keys_fail_loudly_without_revealing_them(env: Env, value: Any) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="incomplete", SecretString=json.dumps(value))["ARN"]
    with pytest.raises(ConfigurationError) as raised:
        load_keys(arn, max_age=0)
    assert SECRET not in str(raised.value) and KEY not in str(raised.value)


def test_the_executor_records_alpaca_fills_in_the_ledger(
    env: Env, http: responses.RequestsMock, broker: AlpacaBroker
) -> None:
    order = env.order("BUY", 10)
    alpaca = FakeAlpaca(http, {order.order_id: order})
    env.send(order)
    env.send(order, dedup=f"{order.order_id}-again")  # a duplicate delivery
    executor = env.executor(broker=broker)
    first = executor.drain()
    assert (first.accepted, first.filled) == (1, [])
    assert env.status(order) == ("ACCEPTED", "")
    assert alpaca.posts == 1  # the duplicate delivery and the pending sweep found it already placed
    alpaca.fill(order, 100.0)
    later = executor.fill_pending()
    assert [f.order_id for f in later.filled] == [order.order_id]
    assert executor.fill_pending().filled == []
    assert alpaca.posts == 1
    env.assert_consistent()


def test_the_trading_config_selects_the_alpaca_broker(env: Env, secret_arn: str) -> None:
    env.config.save(
        TradingConfig(risk=RiskLimits(initial_capital=10_000.0), execution=ExecutionSettings(broker="alpaca"))
    )
    settings = Settings(
        config_table=CONFIG,
        state_table=STATE,
        ledger_table=LEDGER,
        idempotency_table="IdempotencyTable",
        data_bucket="bucket",
        orders_queue_url=env.queue_url,
        secret_arn=secret_arn,
    )
    assert isinstance(build_broker(settings, env.config.load(), env.clock), AlpacaBroker)
