"""The trading config item of the config table (the model: :mod:`tradebot.trading.config`).

Item layout (ConfigTable: ``pk`` S HASH, ``sk`` S RANGE)::

    pk = "CONFIG"   sk = "trading"
        config   S   the TradingConfig as JSON (sorted keys)

An absent item means the defaults; a present but invalid one is a ConfigurationError.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from tradebot import aws
from tradebot.errors import ConfigurationError
from tradebot.trading.config import TradingConfig

CONFIG_PK = "CONFIG"
CONFIG_SK = "trading"
CONFIG_KEY = {"pk": {"S": CONFIG_PK}, "sk": {"S": CONFIG_SK}}


class ConfigStore:
    """Reads and writes the single TradingConfig item of the config table."""

    def __init__(self, table_name: str, ddb: Any | None = None) -> None:
        self._table = table_name
        self._ddb = ddb or aws.client("dynamodb")

    def load(self) -> TradingConfig:
        item = self._ddb.get_item(TableName=self._table, Key=CONFIG_KEY, ConsistentRead=True).get("Item")
        if item is None:
            return TradingConfig()
        try:
            stored = json.loads(item["config"]["S"])
            risk = stored.get("risk") if isinstance(stored, dict) else None
            # items saved before the field was removed carry ``long_only: true``, its only valid value
            if isinstance(risk, dict) and risk.get("long_only") is True:
                del risk["long_only"]
            return TradingConfig.model_validate(stored)
        except (KeyError, ValueError, ValidationError) as exc:
            raise ConfigurationError(f"config table {self._table}: invalid trading config: {exc}") from None

    def save(self, config: TradingConfig) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={**CONFIG_KEY, "config": {"S": json.dumps(config.model_dump(mode="json"), sort_keys=True)}},
        )

    def set_kill_switch(self, on: bool, reason: str = "") -> TradingConfig:
        config = self.load().model_copy(
            update={"kill_switch": on, "kill_switch_reason": reason if on else ""}
        )
        self.save(config)
        return config
