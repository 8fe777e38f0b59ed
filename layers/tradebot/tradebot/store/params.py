"""Optimized strategy parameters per symbol and strategy, in the state table.

Item layout (StateTable: ``pk`` S HASH, ``sk`` S RANGE)::

    pk = "PARAMS#<symbol>"   sk = "<strategy>"
        result   S   the OptimizeResult as JSON: parameters, in/out-of-sample scores, walk-forward folds,
                     the session they were optimized on

Written by OptimizeStrategy when it re-optimizes; read by OptimizeStrategy (is it fresh enough?), a batch
of symbols at a time (BatchGetItem, BatchWriteItem).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tradebot import aws
from tradebot.contracts import OptimizeResult
from tradebot.errors import RetryableError

PARAMS_PREFIX = "PARAMS#"
GET_BATCH = 100  # BatchGetItem's limit
PUT_BATCH = 25  # BatchWriteItem's limit
MAX_ROUNDS = 8  # a batch's unprocessed keys asked again at most this often (throttling): then retryable


def params_key(symbol: str, strategy: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PARAMS_PREFIX}{symbol}"}, "sk": {"S": strategy}}


class ParamsStore:
    """The latest optimized parameters of each (symbol, strategy)."""

    def __init__(self, table_name: str, ddb: Any | None = None) -> None:
        self._table = table_name
        self._ddb = ddb or aws.client("dynamodb")

    def get(self, symbol: str, strategy: str) -> OptimizeResult | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=params_key(symbol, strategy), ConsistentRead=True
        ).get("Item")
        return None if item is None else OptimizeResult.model_validate_json(item["result"]["S"])

    def put(self, result: OptimizeResult) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={**params_key(result.symbol, result.strategy), "result": {"S": result.model_dump_json()}},
        )

    def get_many(self, symbols: Sequence[str], strategy: str) -> dict[str, OptimizeResult]:
        """The stored results of ``symbols`` (absent symbols are left out), BatchGetItem by 100."""
        found: dict[str, OptimizeResult] = {}
        unique = list(dict.fromkeys(symbols))
        for start in range(0, len(unique), GET_BATCH):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [params_key(s, strategy) for s in unique[start : start + GET_BATCH]],
                    "ConsistentRead": True,
                }
            }
            for _ in range(MAX_ROUNDS):
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    result = OptimizeResult.model_validate_json(item["result"]["S"])
                    found[result.symbol] = result
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RetryableError(f"{self._table}: BatchGetItem kept returning unprocessed keys")
        return found

    def put_many(self, results: Sequence[OptimizeResult]) -> None:
        """Store ``results`` (BatchWriteItem by 25)."""
        for start in range(0, len(results), PUT_BATCH):
            request: dict[str, Any] = {
                self._table: [
                    {
                        "PutRequest": {
                            "Item": {
                                **params_key(r.symbol, r.strategy),
                                "result": {"S": r.model_dump_json()},
                            }
                        }
                    }
                    for r in results[start : start + PUT_BATCH]
                ]
            }
            for _ in range(MAX_ROUNDS):
                request = self._ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
            else:
                raise RetryableError(f"{self._table}: BatchWriteItem kept returning unprocessed items")
