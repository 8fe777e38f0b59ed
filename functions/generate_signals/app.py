"""GenerateSignals: each batch's parameters + bars -> a target weight per symbol, with the reason; one S3
object per run."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tradebot.contracts import SignalsEvent, parse_event
from tradebot.observability import lambda_instruments
from tradebot.pipeline.runtime import runtime
from tradebot.pipeline.signals import generate_signals

logger, tracer, metrics = lambda_instruments()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(SignalsEvent, event)
    result = generate_signals(request, runtime())
    metrics.add_metric(name="SignalsGenerated", unit=MetricUnit.Count, value=result.count)
    logger.info("signals", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
