"""Order execution: the paper broker, its price source, and the long-running executor (ECS service)."""

from tradebot.execution.broker import Broker, PaperBroker, PriceSource
from tradebot.execution.executor import Executor, ExecutorReport, cloudwatch_heartbeat
from tradebot.execution.prices import BarSourcePrices

__all__ = [
    "BarSourcePrices",
    "Broker",
    "Executor",
    "ExecutorReport",
    "PaperBroker",
    "PriceSource",
    "cloudwatch_heartbeat",
]
