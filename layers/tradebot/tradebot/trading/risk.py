"""Risk: the one trading gate and the daily loss limit. Pure: no AWS, no clock.

:func:`trading_block` answers "may this account trade now?" for PaperTrade (before deciding) and the
executor (before each order): not while the operator's kill switch is on, nor while the account is halted;
and, asked about one symbol, not while that symbol is stopped (an unexplained restatement of its history:
tradebot.trading.corporate_actions). An operator lifts all three with `tradebot kill-switch off`.
"""

from __future__ import annotations

from tradebot.trading.account import Halt, SymbolHalt
from tradebot.trading.config import RiskLimits, TradingConfig


def trading_block(
    config: TradingConfig, halt: Halt | None, symbol_halt: SymbolHalt | None = None
) -> str | None:
    """Why the account must not trade now (the kill switch, then a halt), or, for an order of a symbol,
    why that symbol must not be traded (``symbol_halt``: it is stopped), or None."""
    if config.kill_switch:
        return f"kill switch: {config.kill_switch_reason or 'engaged'}"
    if halt is not None:
        return f"halted since {halt.as_of}: {halt.reason}"
    if symbol_halt is not None:
        return f"{symbol_halt.symbol} stopped since {symbol_halt.as_of}: {symbol_halt.reason}"
    return None


def daily_loss_breach(risk: RiskLimits, previous_equity: float, equity: float) -> str | None:
    """Why trading must halt (equity fell more than ``daily_loss_limit`` since the previous session's
    close), or None."""
    if risk.daily_loss_limit is None or previous_equity <= 0:
        return None
    loss = (previous_equity - equity) / previous_equity
    if loss <= risk.daily_loss_limit:
        return None
    return (
        f"daily loss limit: equity fell {loss:.2%} (from {previous_equity:,.2f} to {equity:,.2f}), "
        f"more than the limit of {risk.daily_loss_limit:.2%}"
    )
