"""DynamoDB helpers shared by the stores (low-level client, typed attribute values)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError


def num(value: float | int) -> dict[str, str]:
    """A number attribute: floats as their shortest round-trip text, ints as they are."""
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def put_if_absent(ddb: Any, table: str, item: dict[str, Any]) -> bool:
    """Put ``item`` only if its key is not taken; True if this call created it, False if it existed."""
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def pages(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated Query or Scan (``call`` is ``ddb.query`` or ``ddb.scan``)."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}
