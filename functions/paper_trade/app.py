"""PaperTrade: targets + portfolio + risk limits + kill switch -> orders in the ledger, then queued."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tradebot.contracts import PaperTradeEvent, parse_event
from tradebot.observability import lambda_instruments
from tradebot.pipeline.runtime import runtime
from tradebot.pipeline.trade import paper_trade_once

logger, tracer, metrics = lambda_instruments()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(PaperTradeEvent, event)
    result = paper_trade_once(request, runtime(), context)
    metrics.add_metric(name="OrdersSent", unit=MetricUnit.Count, value=result["sent"])
    logger.info("orders", extra={"sent": result["sent"], "already_recorded": result["already_recorded"]})
    return result
