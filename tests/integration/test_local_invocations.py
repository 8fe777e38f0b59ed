"""Local invocations see the environment AWS gives each function, and a long run in one process works:
many invocations, concurrent (as a Map's iterations), each with its logs and EMF metrics collected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from tradebot_local.emulator import LambdaDispatcher
from tradebot_local.runner import local_stack, metric_totals

SYMBOLS = ["SYN-A", "SYN-B", "SYN-C", "SYN-D", "SYN-E"]
INVOCATIONS = 250  # Powertools flushes on its own at 100 metrics: well past it


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, LambdaDispatcher, list[str]]]:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    lines: list[str] = []
    with local_stack(LambdaDispatcher(log_sink=lines.append)) as (dep, dispatcher):
        yield dep, dispatcher, lines


def test_hundreds_of_concurrent_invocations_keep_their_service_namespace_and_metrics(logged) -> None:
    dep, dispatcher, lines = logged
    fetch, optimize = "FetchMarketDataFunction", "OptimizeStrategyFunction"
    assert set(dep.functions) >= {fetch, optimize}
    # Given the run's bars
    ok, fetched = dispatcher.call(fetch, {"run_id": "long", "request": {"source": "sample"}})
    assert ok, fetched

    pointer = fetched["manifest"]
    manifest = boto3.client("s3").get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
    (batch,) = json.loads(manifest)
    assert batch["symbols"] == SYMBOLS

    # When OptimizeStrategy is invoked many times, four at a time, as the Map's children are
    def one(i: int) -> tuple[bool, Any]:
        event = {"run_id": "long", "as_of": fetched["as_of"], "strategy": "sma_crossover", "batch": batch}
        return dispatcher.call(optimize, event)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(INVOCATIONS)))

    # Then every invocation succeeded
    assert all(ok for ok, _ in results), [r for ok, r in results if not ok][:1]
    # and each one's metrics were flushed as its own EMF document, in the template's namespace
    assert len(dispatcher.metrics) == INVOCATIONS + 1
    for doc in dispatcher.metrics:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "TradeBot"
        assert doc["service"] == "tradebot"
    totals = metric_totals(dispatcher.metrics)["TradeBot"]
    evaluated = sum(r["evaluated"] for _, r in results)
    assert totals["ParameterSetsEvaluated"] == evaluated > 0  # the first invocation re-optimized
    assert totals["SymbolsOptimized"] == 5 * INVOCATIONS
    assert totals["SymbolsFetched"] == 5
    # and the logs carry the service name and the function's name (not service_undefined)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    optimized = [r for r in records if r.get("message") == "optimized"]
    assert len(optimized) == INVOCATIONS
    assert {r["service"] for r in records} == {"tradebot"}
    assert {r["function_name"] for r in optimized} == {optimize}


def test_each_function_sees_its_own_lambda_environment(logged) -> None:
    dep, dispatcher, _ = logged
    seen: dict[str, dict[str, str | None]] = {}

    def spy(event: Any, context: Any) -> dict[str, Any]:
        import os

        names = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "POWERTOOLS_SERVICE_NAME")
        seen[context.function_name] = {n: os.environ.get(n) for n in names}
        return {}

    for name in ("FetchMarketDataFunction", "PaperTradeFunction"):
        dispatcher.register(name, spy, dep.function_environments[name])
        assert dispatcher.call(name, {})[0]
    assert seen["FetchMarketDataFunction"]["AWS_LAMBDA_FUNCTION_NAME"] == "FetchMarketDataFunction"
    assert seen["PaperTradeFunction"]["AWS_LAMBDA_FUNCTION_NAME"] == "PaperTradeFunction"
    memory = {n: e["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] for n, e in seen.items()}
    template = dep.template["Resources"]
    assert memory == {n: str(template[n]["Properties"]["MemorySize"]) for n in seen}
    assert {e["POWERTOOLS_SERVICE_NAME"] for e in seen.values()} == {"tradebot"}
