"""`tradebot data ...`: fetch and check market data (issue: market data)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the data commands to the `tradebot` app."""
