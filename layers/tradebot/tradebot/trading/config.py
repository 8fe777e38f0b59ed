"""The trading config: universe, strategy, kill switch, risk limits and how orders are placed.

One validated model, stored as one item of the config table (:mod:`tradebot.store.trading_config`). An
absent item means the documented defaults below; a present but invalid one is a ConfigurationError,
never silently replaced by defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tradebot.contracts import Contract, StrategyName, Symbol


class RiskLimits(Contract):
    """Limits every decision keeps (tradebot.trading.sizing, tradebot.trading.risk). The paper account is
    long-only: negative targets mean flat."""

    initial_capital: float = Field(default=100_000.0, gt=0)
    max_position_weight: float = Field(default=0.20, gt=0, le=1)  # of equity, per symbol
    max_gross_exposure: float = Field(default=1.0, gt=0, le=1)  # sum of position values / equity (no margin)
    max_positions: int = Field(default=10, ge=1)
    min_order_value: float = Field(default=100.0, ge=0)
    max_orders_per_run: int = Field(default=50, ge=1)
    # Equity at a session's close more than this fraction below the previous session's halts trading
    # (tradebot.trading.risk.daily_loss_breach); None: no daily loss limit.
    daily_loss_limit: float | None = Field(default=0.05, gt=0, lt=1)
    commission_rate: float = Field(default=0.0005, ge=0, lt=0.05)  # fraction of traded value
    slippage_bps: float = Field(default=5.0, ge=0, lt=500)
    # Cash set aside for a MARKET buy above the close it is sized on, for the overnight gap (slippage
    # included): as a real broker does (Alpaca checks a market buy against a price 2.5-4% above the
    # current one: https://docs.alpaca.markets/docs/orders-at-alpaca), so the last buy of a session is not
    # rejected at the open for want of cash unless the open gaps more than this.
    market_buy_buffer_bps: float = Field(default=300.0, ge=0, lt=2_000)

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        if self.market_buy_buffer_bps < self.slippage_bps:
            raise ValueError(
                f"market_buy_buffer_bps ({self.market_buy_buffer_bps:g}) must cover slippage_bps "
                f"({self.slippage_bps:g})"
            )
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
    strategy: StrategyName = "sma_crossover"
    kill_switch: bool = False
    kill_switch_reason: str = ""
    risk: RiskLimits = RiskLimits()
    execution: ExecutionSettings = ExecutionSettings()
