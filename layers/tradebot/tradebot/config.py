"""Trading configuration (universe, strategy, risk limits, kill switch), kept in the config table.

An absent item means "the documented defaults below"; a present but invalid one is a ConfigurationError,
never silently replaced by defaults.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from tradebot import aws
from tradebot.errors import ConfigurationError
from tradebot.models import Contract, Symbol

CONFIG_PK = "CONFIG"
CONFIG_SK = "trading"


class RiskLimits(Contract):
    initial_capital: float = Field(default=100_000.0, gt=0)
    max_position_weight: float = Field(default=0.20, gt=0, le=1)  # of equity, per symbol
    max_gross_exposure: float = Field(default=1.0, gt=0, le=1)  # sum of position values / equity (no margin)
    max_positions: int = Field(default=10, ge=1)
    min_order_value: float = Field(default=100.0, ge=0)
    max_orders_per_run: int = Field(default=50, ge=1)
    long_only: bool = True
    # Equity at a session's close more than this fraction below the previous session's halts trading
    # (tradebot.execution.placement); None: no daily loss limit.
    daily_loss_limit: float | None = Field(default=0.05, gt=0, lt=1)
    commission_rate: float = Field(default=0.0005, ge=0, lt=0.05)  # fraction of traded value
    slippage_bps: float = Field(default=5.0, ge=0, lt=500)

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        if not self.long_only:
            raise ValueError("long_only=false is not supported: the paper account cannot hold shorts")
        if self.max_position_weight > self.max_gross_exposure:
            raise ValueError(
                f"max_position_weight ({self.max_position_weight}) exceeds max_gross_exposure "
                f"({self.max_gross_exposure})"
            )
        return self


class ExecutionSettings(Contract):
    """How orders are placed and who fills them."""

    broker: Literal["paper", "alpaca"] = "paper"  # alpaca: its paper-trading API (executor only)
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    # LIMIT orders: a BUY at most close*(1+offset), a SELL at least close*(1-offset)
    limit_offset_bps: float = Field(default=50.0, ge=0, lt=1_000)


class TradingConfig(Contract):
    universe: list[Symbol] | None = None  # None: the data source's default universe
    strategy: str = "sma_crossover"
    kill_switch: bool = False
    kill_switch_reason: str = ""
    risk: RiskLimits = RiskLimits()
    execution: ExecutionSettings = ExecutionSettings()


class ConfigStore:
    """Reads and writes the single TradingConfig item of the config table."""

    def __init__(self, table_name: str, ddb: Any | None = None) -> None:
        self._table = table_name
        self._ddb = ddb or aws.client("dynamodb")

    def load(self) -> TradingConfig:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": CONFIG_PK}, "sk": {"S": CONFIG_SK}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return TradingConfig()
        try:
            return TradingConfig.model_validate_json(item["config"]["S"])
        except (KeyError, ValidationError) as exc:
            raise ConfigurationError(f"config table {self._table}: invalid trading config: {exc}") from None

    def save(self, config: TradingConfig) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": CONFIG_PK},
                "sk": {"S": CONFIG_SK},
                "config": {"S": json.dumps(config.model_dump(mode="json"), sort_keys=True)},
            },
        )

    def set_kill_switch(self, on: bool, reason: str = "") -> TradingConfig:
        config = self.load().model_copy(
            update={"kill_switch": on, "kill_switch_reason": reason if on else ""}
        )
        self.save(config)
        return config
