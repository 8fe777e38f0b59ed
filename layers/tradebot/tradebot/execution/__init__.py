"""Order execution: placing orders (PaperTrade's core), brokers, their price source, and the long-running
executor (ECS service)."""

from tradebot.execution.broker import (
    Broker,
    Execution,
    ExecutionStatus,
    PaperBroker,
    PriceSource,
    SessionBar,
)
from tradebot.execution.executor import Executor, ExecutorReport, cloudwatch_heartbeat
from tradebot.execution.prices import BarSourcePrices

__all__ = [
    "BarSourcePrices",
    "Broker",
    "Execution",
    "ExecutionStatus",
    "Executor",
    "ExecutorReport",
    "PaperBroker",
    "PriceSource",
    "SessionBar",
    "cloudwatch_heartbeat",
]
