"""OptimizeStrategy on the research engine: walk-forward with the config's costs, stored with its scores
(DynamoDB replaced by a dict; no AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import pytest

from tradebot.contracts import OptimizeEvent, OptimizeResult, S3Pointer
from tradebot.data import source_from_spec
from tradebot.pipeline.optimize import optimize_strategy
from tradebot.pipeline.runtime import Runtime
from tradebot.settings import Settings
from tradebot.strategy import FillModel, optimize

BARS = source_from_spec("sample").load(["SYN-B"], date(2023, 1, 1), date(2025, 12, 30)).frames["SYN-B"]


class FakeDynamoDB:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool = True) -> dict[str, Any]:
        item = self.items.get((TableName, Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item is not None else {}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.items[(TableName, Item["pk"]["S"], Item["sk"]["S"])] = Item


@dataclass
class LocalRuntime(Runtime):
    fake: FakeDynamoDB = field(default_factory=FakeDynamoDB)

    @property
    def ddb(self) -> Any:
        return self.fake

    def bars_for(self, pointer: S3Pointer, symbol: str) -> pd.DataFrame:
        return BARS


@pytest.fixture
def rt() -> LocalRuntime:
    names = ("config_table", "state_table", "ledger_table", "idempotency_table", "data_bucket")
    settings = Settings(**{n: n for n in names}, orders_queue_url="q", secret_arn="s")
    return LocalRuntime(settings=settings)


def test_optimize_strategy_stores_walk_forward_params_and_scores(rt: LocalRuntime) -> None:
    event = OptimizeEvent(
        run_id="r1",
        as_of=date(2025, 12, 30),
        symbol="SYN-B",
        strategy="rsi_reversion",
        bars=S3Pointer(bucket="b", key="k"),
    )
    result = optimize_strategy(event, rt)
    # the default trading config's costs (0.05% commission, 5 bps slippage), fractional, 3 folds
    fill = FillModel(fractional=True, commission=0.0005, slippage_bps=5)
    expected = optimize(BARS, "rsi_reversion", fill=fill, folds=3)
    assert result.params == expected.params and result.evaluated == expected.evaluated == 840
    assert result.objective == "sharpe" and len(result.walk_forward) == 3
    assert result.in_sample.sharpe == pytest.approx(expected.in_sample["sharpe"])
    assert result.in_sample.sortino is not None and result.out_of_sample is not None
    assert result.out_of_sample.n_trades == expected.out_of_sample["n_trades"]  # type: ignore[index]
    assert [f.test_start.isoformat() for f in result.walk_forward] == [f.test_start for f in expected.folds]
    stored = OptimizeResult.model_validate_json(
        rt.fake.items[("state_table", "PARAMS#SYN-B", "rsi_reversion")]["result"]["S"]
    )
    assert stored == result
    again = optimize_strategy(event, rt)  # fresh parameters are reused
    assert (
        not again.reoptimized and again.params == result.params and again.walk_forward == result.walk_forward
    )


def test_parameters_stored_before_the_research_engine_still_load() -> None:
    old = (
        '{"symbol":"SPY","strategy":"sma_crossover","params":{"fast":10.0,"slow":30.0},'
        '"in_sample":{"sharpe":1.0,"total_return_pct":5.0,"max_drawdown_pct":-3.0,"n_trades":4},'
        '"out_of_sample":null,"optimized_on":"2025-06-02","reoptimized":true,"evaluated":345}'
    )
    result = OptimizeResult.model_validate_json(old)
    assert result.objective is None and result.walk_forward == [] and result.in_sample.sortino is None
