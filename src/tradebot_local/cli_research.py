"""`tradebot backtest` and `tradebot optimize`: the strategy research commands (issue: research engine)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the research commands to the `tradebot` app."""
