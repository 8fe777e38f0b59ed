"""OptimizeStrategy (one Distributed Map item: a batch of symbols): fresh parameters are reused, stale ones
re-optimized, the batch's results written to S3."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tradebot.contracts import OptimizeEvent, parse_event
from tradebot.observability import lambda_instruments
from tradebot.pipeline.optimize import optimize_strategy
from tradebot.pipeline.runtime import runtime

logger, tracer, metrics = lambda_instruments()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(OptimizeEvent, event)
    result = optimize_strategy(request, runtime())
    metrics.add_metric(name="ParameterSetsEvaluated", unit=MetricUnit.Count, value=result.evaluated)
    metrics.add_metric(name="SymbolsOptimized", unit=MetricUnit.Count, value=result.optimized)
    metrics.add_metric(name="SymbolsFailedOptimization", unit=MetricUnit.Count, value=result.failed)
    logger.info("optimized", extra=result.model_dump(mode="json", exclude={"result"}))
    return result.model_dump(mode="json")
