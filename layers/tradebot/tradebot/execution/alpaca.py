"""An Alpaca (paper-trading API) broker behind the same Broker interface as the paper broker. Off by default:
the trading config's ``execution.broker = "alpaca"`` turns it on in the executor (alpaca-py is an
executor-only dependency, imported here lazily; the Lambdas never load it).

Idempotent by construction: the ledger's order id is Alpaca's ``client_order_id``, so the order is looked
up before it is submitted, and a redelivered message or a second executor finds the order already placed
instead of placing it twice. Every order is a DAY order; Alpaca cancels it at the close when unfilled.

Alpaca status -> Execution: filled -> FILLED at ``filled_avg_price`` (Alpaca charges no commission);
canceled / expired / done_for_day -> CANCELLED, or FILLED for the part that filled; rejected / suspended
-> REJECTED; anything else -> PENDING (asked again by the executor's pending sweep). Throttling, server
errors and network failures are RetryableError (the message stays on the queue); keys come from Secrets
Manager through Powertools Parameters and are never logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tradebot.contracts import Fill, Order
from tradebot.errors import ConfigurationError, RetryableError
from tradebot.execution.broker import NEW_YORK, Execution

KEY_FIELD = "broker_api_key"
SECRET_FIELD = "broker_api_secret"  # noqa: S105 - the name of a field, not a secret
_CANCELLED = {"canceled", "expired", "done_for_day"}
_REJECTED = {"rejected", "suspended"}


def load_keys(secret_id: str, *, max_age: int = 300) -> tuple[str, str]:
    """The Alpaca key pair from the broker secret (JSON with broker_api_key / broker_api_secret)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_id, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigurationError(f"secret {secret_id} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"secret {secret_id} is not a JSON object")
    key, secret = value.get(KEY_FIELD), value.get(SECRET_FIELD)
    if not key or not secret:  # the names only: never the values
        raise ConfigurationError(f"secret {secret_id}: {KEY_FIELD} and {SECRET_FIELD} must be set for alpaca")
    return str(key), str(secret)


class AlpacaBroker:
    """Broker over alpaca-py's TradingClient (any object with ``get_order_by_client_id`` and
    ``submit_order``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_secret(cls, secret_id: str, *, paper: bool = True) -> AlpacaBroker:
        from alpaca.trading.client import TradingClient

        key, secret = load_keys(secret_id)
        return cls(TradingClient(key, secret, paper=paper))

    def execute(self, order: Order) -> Execution:
        remote = self._find(order.order_id)
        if remote is None:
            remote, refusal = self._submit(order)
            if refusal is not None:
                return Execution.rejected(refusal)
        return _execution(order, remote)

    def _find(self, client_order_id: str) -> Any | None:
        try:
            return self._client.get_order_by_client_id(client_order_id)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise _translate(exc, "looking up order") from exc

    def _submit(self, order: Order) -> tuple[Any | None, str | None]:
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

        common: dict[str, Any] = {
            "symbol": order.symbol,
            "qty": order.quantity,
            "side": OrderSide.BUY if order.side == "BUY" else OrderSide.SELL,
            "time_in_force": TimeInForce.DAY,
            "client_order_id": order.order_id,
        }
        request = (
            LimitOrderRequest(**common, limit_price=order.limit_price)
            if order.limit_price is not None
            else MarketOrderRequest(**common)
        )
        try:
            return self._client.submit_order(request), None
        except Exception as exc:
            status = _status(exc)
            if status in (403, 422):
                placed = self._find(order.order_id)  # a concurrent submit won the race: use its order
                if placed is not None:
                    return placed, None
                return None, f"alpaca refused the order ({status}): {_message(exc)}"
            raise _translate(exc, "submitting order") from exc


def _execution(order: Order, remote: Any) -> Execution:
    status = str(getattr(remote.status, "value", remote.status))
    filled_qty = int(float(remote.filled_qty or 0))
    if status == "filled" or (status in _CANCELLED and filled_qty > 0):
        when: datetime = remote.filled_at or remote.updated_at
        return Execution.filled(
            Fill(
                order_id=order.order_id,
                symbol=order.symbol,
                side=order.side,
                quantity=filled_qty,
                price=float(remote.filled_avg_price),
                commission=0.0,
                session=when.astimezone(NEW_YORK).date(),
            )
        )
    if status in _CANCELLED:
        return Execution.cancelled(f"alpaca: order {status}")
    if status in _REJECTED:
        return Execution.rejected(f"alpaca: order {status}")
    return Execution.pending(f"alpaca: order {status}")


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _message(exc: Exception) -> str:
    try:
        return str(exc.message)  # type: ignore[attr-defined]
    except Exception:
        return str(exc)[:200]


def _translate(exc: Exception, doing: str) -> Exception:
    """Throttling, server errors and the network are retryable; bad keys are a configuration error;
    anything else is returned as it is (the message stays on the queue and ends in the DLQ)."""
    import requests

    status = _status(exc)
    if isinstance(exc, requests.RequestException) or status == 429 or (status is not None and status >= 500):
        return RetryableError(f"alpaca: {doing} failed ({status or type(exc).__name__}); will retry")
    if status in (401, 403):
        return ConfigurationError(f"alpaca: {doing} was refused ({status}): check the broker keys")
    return exc
