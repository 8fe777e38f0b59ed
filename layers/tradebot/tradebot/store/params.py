"""Optimized strategy parameters per symbol and strategy, in the state table.

Item layout (StateTable: ``pk`` S HASH, ``sk`` S RANGE)::

    pk = "PARAMS#<symbol>"   sk = "<strategy>"
        result   S   the OptimizeResult as JSON: parameters, in/out-of-sample scores, walk-forward folds,
                     the session they were optimized on

Written by OptimizeStrategy when it re-optimizes; read by OptimizeStrategy (is it fresh enough?).
"""

from __future__ import annotations

from typing import Any

from tradebot import aws
from tradebot.contracts import OptimizeResult

PARAMS_PREFIX = "PARAMS#"


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
