"""The order message on the SQS FIFO orders queue: built here by PaperTrade, parsed here by the executor.

Message: body = the :class:`~tradebot.contracts.Order` as JSON; ``MessageGroupId`` = the account (orders
of one account are delivered in order); ``MessageDeduplicationId`` = the order id (a re-send within five
minutes is dropped by SQS; later ones by the ledger's conditions). Sent in batches of ten (the SQS limit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from tradebot import aws
from tradebot.contracts import Order
from tradebot.errors import InputValidationError, RetryableError

BATCH = 10  # SendMessageBatch / ReceiveMessage maximum


def order_message(order: Order) -> dict[str, str]:
    """The SendMessage fields of ``order`` (body, group, deduplication id)."""
    return {
        "MessageBody": json.dumps(order.model_dump(mode="json")),
        "MessageGroupId": order.account,
        "MessageDeduplicationId": order.order_id,
    }


def parse_order(body: str) -> Order:
    """The order in a message body; InputValidationError if it is not one."""
    try:
        return Order.model_validate_json(body)
    except ValidationError as exc:
        raise InputValidationError(f"not an order message: {exc}") from None


class OrderQueue:
    """Both ends of the orders queue (low-level SQS client)."""

    def __init__(self, queue_url: str, sqs: Any | None = None) -> None:
        self.url = queue_url
        self._sqs = sqs or aws.client("sqs")

    def send(self, orders: Sequence[Order]) -> None:
        """Send ``orders`` in batches; RetryableError if SQS rejects any (the step is retried: the
        deduplication id and the ledger make a re-send harmless)."""
        for start in range(0, len(orders), BATCH):
            batch = orders[start : start + BATCH]
            response = self._sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), **order_message(o)} for i, o in enumerate(batch)],
            )
            if response.get("Failed"):
                raise RetryableError(
                    f"SQS rejected {len(response['Failed'])} order messages: {response['Failed']}"
                )

    def receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        """One ReceiveMessage (long poll of ``wait_seconds``), with each message's receive count."""
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def delete(self, message: dict[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def extend_visibility(self, messages: Sequence[dict[str, Any]], seconds: int) -> dict[str, Any]:
        """Keep ``messages`` invisible for ``seconds`` more; the ChangeMessageVisibilityBatch response."""
        response: dict[str, Any] = self._sqs.change_message_visibility_batch(
            QueueUrl=self.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(messages)
            ],
        )
        return response

    def visibility_timeout(self) -> int:
        """The queue's visibility timeout (seconds)."""
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["VisibilityTimeout"])
        return int(attributes["Attributes"]["VisibilityTimeout"])
