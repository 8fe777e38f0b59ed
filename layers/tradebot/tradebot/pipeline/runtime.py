"""What a step needs from the outside world (settings, clock, calendar, AWS clients and stores), created
once per process: a Lambda builds it at its first invocation and reuses it while warm."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import pandas as pd

from tradebot import aws
from tradebot.calendar import TradingCalendar, get_calendar
from tradebot.clock import Clock, SystemClock
from tradebot.contracts import S3Pointer
from tradebot.data.run_bars import read_run_bars
from tradebot.errors import UnknownSymbolError
from tradebot.settings import Settings, get_settings
from tradebot.store.accounts import AccountStore
from tradebot.store.ledger import OrderLedger
from tradebot.store.params import ParamsStore
from tradebot.store.queue import OrderQueue
from tradebot.store.trading_config import ConfigStore


@dataclass
class Runtime:
    """Everything a step needs from the outside world, created once per cold start."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    calendar: TradingCalendar = field(default_factory=get_calendar)

    @property
    def s3(self) -> Any:
        return aws.client("s3")

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    @property
    def config(self) -> ConfigStore:
        return ConfigStore(self.settings.config_table, self.ddb)

    @property
    def params(self) -> ParamsStore:
        return ParamsStore(self.settings.state_table, self.ddb)

    @property
    def accounts(self) -> AccountStore:
        return AccountStore(self.settings.state_table, self.ddb)

    @property
    def ledger(self) -> OrderLedger:
        return OrderLedger(self.settings.ledger_table, self.ddb)

    @property
    def orders_queue(self) -> OrderQueue:
        return OrderQueue(self.settings.orders_queue_url, aws.client("sqs"))

    def bars_for(self, pointer: S3Pointer, symbol: str) -> pd.DataFrame:
        """One symbol's bars from a run's bars object (read once per process and object)."""
        frames = _read_bars(pointer.bucket, pointer.key)
        if symbol not in frames:
            raise UnknownSymbolError(
                f"{symbol} is not in this run's bars (s3://{pointer.bucket}/{pointer.key})"
            )
        return frames[symbol]


@cache
def runtime() -> Runtime:
    return Runtime(settings=get_settings())


def reset_runtime() -> None:
    """Forget the process's runtime and settings (a new emulator session, or tests)."""
    runtime.cache_clear()
    get_settings.cache_clear()
    _read_bars.cache_clear()


@lru_cache(maxsize=4)
def _read_bars(bucket: str, key: str) -> dict[str, pd.DataFrame]:
    """One read per run object per process: the Map's iterations share a warm Lambda's cache."""
    return read_run_bars(aws.client("s3"), S3Pointer(bucket=bucket, key=key))
