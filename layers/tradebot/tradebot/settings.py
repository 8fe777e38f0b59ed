"""Configuration, validated once per process from the environment. A missing setting fails with its name."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tradebot.errors import ConfigurationError


class Settings(BaseSettings):
    """Resource names come from template.yaml (Globals -> Environment); none has a default."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    config_table: str = Field(min_length=1)
    state_table: str = Field(min_length=1)
    ledger_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    data_bucket: str = Field(min_length=1)
    orders_queue_url: str = Field(min_length=1)
    secret_arn: str = Field(min_length=1)
    # Behaviour, not resources: these have documented defaults.
    data_source: str = "yfinance"
    account_id: str = "paper"
    yfinance_cache_dir: str = "/tmp/tradebot-yfinance"  # noqa: S108 - Lambda's only writable place
    params_max_age_days: int = Field(default=7, ge=0)
    # The optimize Distributed Map: symbols per item (one Lambda invocation), items run at once, and the
    # percentage of failed items (or failed symbols) the run tolerates before it fails with no orders.
    optimize_batch_size: int = Field(default=100, ge=1, le=1_000)
    optimize_max_concurrency: int = Field(default=10, ge=1, le=1_000)
    optimize_tolerated_failure_percentage: float = Field(default=10.0, ge=0, le=100)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; raises ConfigurationError naming every missing or bad variable."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        problems = ", ".join(
            f"{str(err['loc'][0]).upper()} ({err['msg']})" for err in exc.errors() if err.get("loc")
        )
        raise ConfigurationError(f"invalid or missing settings: {problems}") from exc
