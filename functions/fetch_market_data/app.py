"""FetchMarketData: the universe's bars up to the session's close -> S3 in batches (their manifest is the
optimize Map's items), plus a quality report."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tradebot.contracts import FetchEvent, parse_event
from tradebot.observability import lambda_instruments
from tradebot.pipeline.fetch import fetch_market_data
from tradebot.pipeline.runtime import runtime

logger, tracer, metrics = lambda_instruments()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(FetchEvent, event)
    result = fetch_market_data(request, runtime())
    metrics.add_metric(name="SymbolsFetched", unit=MetricUnit.Count, value=result.symbols)
    metrics.add_metric(name="SymbolsSkipped", unit=MetricUnit.Count, value=result.skipped)
    logger.info(
        "fetched",
        extra={
            "as_of": str(result.as_of),
            "market_open": result.market_open,
            "symbols": result.symbols,
            "skipped": result.skipped,
            "batches": result.batches,
        },
    )
    return result.model_dump(mode="json")
