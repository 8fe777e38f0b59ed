"""`tradebot portfolio|orders|kill-switch|reset`: the local paper account (issue: orders and execution)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the paper-account commands to the `tradebot` app."""
