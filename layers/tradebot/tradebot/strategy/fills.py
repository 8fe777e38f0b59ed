"""How signals become fills: prices, costs and sizing, shared by every engine.

A decision at bar t's close fills at bar t+1's Open (never earlier), adjusted for slippage:

* a buy fills at ``Open * (1 + slippage_bps / 10_000)``, a sell at ``Open * (1 - slippage_bps / 10_000)``;
* each fill pays ``commission * shares * fill_price + commission_per_share * shares``;
* sizing: a position is opened with ``fraction`` of the equity at the fill (all of it for ``"all_in"``),
  ``shares = fraction * equity / (fill_price * (1 + commission) + commission_per_share)``, rounded down to
  a whole number unless ``fractional``. With 0 shares the entry is skipped (the following exit does
  nothing). A reversal (long/short) first closes the old position, then sizes the new one from the cash.
* long only by default: ``enter`` opens a long, ``exit`` closes it. With ``long_short`` an ``exit`` opens
  a short instead (stop-and-reverse), sized the same way from equity.
* equity is ``cash + shares * Close`` at every close (shares < 0 when short). If it reaches 0 or less at a
  close (only a short can), the account is bust: the position is closed at that close, equity is 0 from
  then on and nothing more trades (as in backtesting.py).

Defaults reproduce backtesting.py's ``Backtest(data, strategy, cash=10_000, commission=c)`` with
``self.buy()`` / ``self.position.close()``: whole shares, all in, commission on entry and exit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradebot.errors import InputValidationError

Sizing = Literal["all_in", "fixed_fraction"]


class FillModel(BaseModel):
    """Costs, sizing and direction of a backtest (validated, immutable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cash: float = Field(default=10_000.0, gt=0, allow_inf_nan=False, description="initial cash")
    commission: float = Field(default=0.0, ge=0, lt=0.5, description="fraction of traded value, per fill")
    commission_per_share: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="per share")
    slippage_bps: float = Field(default=0.0, ge=0, lt=1_000, description="buys pay more, sells get less")
    fractional: bool = Field(default=False, description="fractional shares (default: whole shares)")
    sizing: Sizing = "all_in"
    fraction: float = Field(default=1.0, gt=0, le=1, description="of equity, for fixed_fraction sizing")
    long_short: bool = Field(default=False, description="an exit signal opens a short (stop-and-reverse)")

    @model_validator(mode="after")
    def _fraction_only_for_fixed_fraction(self) -> FillModel:
        if self.sizing == "all_in" and self.fraction != 1.0:
            raise ValueError("fraction applies to sizing='fixed_fraction' only")
        return self

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000.0

    @property
    def size_fraction(self) -> float:
        return 1.0 if self.sizing == "all_in" else self.fraction

    @property
    def multiplicative(self) -> bool:
        """True when equity after each trade is the equity before it times a factor that does not depend
        on the equity: fractional shares, all of the equity, long only. The grid engine then scores a
        whole grid from per-trade factors (fast path); other models build each set's equity path."""
        return self.fractional and self.size_fraction == 1.0 and not self.long_short

    def describe(self) -> str:
        parts = [f"cash {self.cash:,.0f}", f"commission {self.commission:g}"]
        if self.commission_per_share:
            parts.append(f"{self.commission_per_share:g}/share")
        if self.slippage_bps:
            parts.append(f"slippage {self.slippage_bps:g} bps")
        parts.append("fractional shares" if self.fractional else "whole shares")
        parts.append("all in" if self.sizing == "all_in" else f"{self.fraction:.0%} of equity")
        parts.append("long/short" if self.long_short else "long only")
        return ", ".join(parts)


def fill_model(value: FillModel | dict[str, object] | None = None, **overrides: object) -> FillModel:
    """A validated :class:`FillModel` from a model, a mapping or keyword overrides (None: the defaults).
    Bad values raise InputValidationError naming the field."""
    from pydantic import ValidationError

    base: dict[str, object] = {}
    if isinstance(value, FillModel):
        base = value.model_dump()
    elif isinstance(value, dict):
        base = dict(value)
    elif value is not None:
        raise InputValidationError(f"fill model must be a FillModel or a mapping, got {type(value).__name__}")
    base.update(overrides)
    try:
        return FillModel.model_validate(base)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'fill'}: {err['msg']}" for err in exc.errors()
        )
        raise InputValidationError(f"fill model: {problems}") from None
