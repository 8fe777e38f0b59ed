"""OptimizeStrategy on the research engine: walk-forward with the config's costs, stored with its scores
(DynamoDB replaced by a dict; no AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import pytest

from tradebot.contracts import (
    OptimizeBatch,
    OptimizeBatchResult,
    OptimizeEvent,
    OptimizeResult,
    OptimizeSummary,
    S3Pointer,
)
from tradebot.data import source_from_spec
from tradebot.pipeline.optimize import optimize_strategy
from tradebot.pipeline.runtime import Runtime
from tradebot.settings import Settings
from tradebot.strategy import FillModel, optimize

BARS = source_from_spec("sample").load(["SYN-B"], date(2023, 1, 1), date(2025, 12, 30)).frames["SYN-B"]


class FakeDynamoDB:
    """The calls OptimizeStrategy makes: the config item, then batches of parameter items."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool = True) -> dict[str, Any]:
        item = self.items.get((TableName, Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item is not None else {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        responses = {
            table: [
                self.items[(table, k["pk"]["S"], k["sk"]["S"])]
                for k in request["Keys"]
                if (table, k["pk"]["S"], k["sk"]["S"]) in self.items
            ]
            for table, request in RequestItems.items()
        }
        return {"Responses": responses, "UnprocessedKeys": {}}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for table, requests in RequestItems.items():
            for request in requests:
                item = request["PutRequest"]["Item"]
                self.items[(table, item["pk"]["S"], item["sk"]["S"])] = item
        return {"UnprocessedItems": {}}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.objects[(Bucket, Key)] = Body


@dataclass
class LocalRuntime(Runtime):
    fake: FakeDynamoDB = field(default_factory=FakeDynamoDB)
    fake_s3: FakeS3 = field(default_factory=FakeS3)

    @property
    def ddb(self) -> Any:
        return self.fake

    @property
    def s3(self) -> Any:
        return self.fake_s3

    def bars_for(self, pointer: S3Pointer, symbol: str) -> pd.DataFrame:
        return BARS


@pytest.fixture
def rt() -> LocalRuntime:
    names = ("config_table", "state_table", "ledger_table", "idempotency_table", "data_bucket")
    settings = Settings(**{n: n for n in names}, orders_queue_url="q", secret_arn="s")
    return LocalRuntime(settings=settings)


def batch_result(rt: LocalRuntime, summary: OptimizeSummary) -> OptimizeBatchResult:
    return OptimizeBatchResult.model_validate_json(rt.fake_s3.objects[("data_bucket", summary.result.key)])


def test_optimize_strategy_stores_walk_forward_params_and_scores(rt: LocalRuntime) -> None:
    batch = OptimizeBatch(batch=3, symbols=["SYN-B"], bars=S3Pointer(bucket="b", key="k"))
    event = OptimizeEvent(run_id="r1", as_of=date(2025, 12, 30), strategy="rsi_reversion", batch=batch)
    summary = optimize_strategy(event, rt)
    assert summary.result.key == "runs/2025-12-30/r1/optimize/00003.json"
    (result,) = batch_result(rt, summary).results
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
    assert (summary.optimized, summary.reoptimized, summary.evaluated, summary.failed) == (1, 1, 840, 0)
    again_summary = optimize_strategy(event, rt)  # fresh parameters are reused
    (again,) = batch_result(rt, again_summary).results
    assert (again_summary.reoptimized, again_summary.evaluated) == (0, 0)
    assert (
        not again.reoptimized and again.params == result.params and again.walk_forward == result.walk_forward
    )


def test_a_symbol_whose_optimization_raises_is_reported_and_the_batch_goes_on(
    rt: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradebot.pipeline import optimize as step

    real = step.optimize

    def flaky(bars: Any, strategy: str, **kwargs: Any) -> Any:
        if flaky.calls == 1:  # the second symbol
            flaky.calls += 1
            raise ValueError("singular matrix")
        flaky.calls += 1
        return real(bars, strategy, **kwargs)

    flaky.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(step, "optimize", flaky)
    batch = OptimizeBatch(batch=0, symbols=["AAA", "BBB", "CCC"], bars=S3Pointer(bucket="b", key="k"))
    event = OptimizeEvent(run_id="r1", as_of=date(2025, 12, 30), strategy="sma_crossover", batch=batch)
    summary = optimize_strategy(event, rt)
    document = batch_result(rt, summary)
    assert [r.symbol for r in document.results] == ["AAA", "CCC"]
    assert [(f.symbol, f.reason, f.detail) for f in document.failed] == [
        ("BBB", "optimization_failed", "ValueError: singular matrix")
    ]
    assert (summary.optimized, summary.failed) == (2, 1)


def test_parameters_stored_before_the_research_engine_still_load() -> None:
    old = (
        '{"symbol":"SPY","strategy":"sma_crossover","params":{"fast":10.0,"slow":30.0},'
        '"in_sample":{"sharpe":1.0,"total_return_pct":5.0,"max_drawdown_pct":-3.0,"n_trades":4},'
        '"out_of_sample":null,"optimized_on":"2025-06-02","reoptimized":true,"evaluated":345}'
    )
    result = OptimizeResult.model_validate_json(old)
    assert result.objective is None and result.walk_forward == [] and result.in_sample.sortino is None
