"""What the `tradebot` command modules share: the consoles, failing with an exit code, parsing, output."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer
from rich.console import Console

out = Console()
"""Standard output: the report (and nothing else, so --json stays JSON)."""
wide_out = Console()
"""Standard output for the research tables: 150 columns when piped or captured, so they do not wrap."""
if not wide_out.is_terminal:
    wide_out.width = 150
err = Console(stderr=True, soft_wrap=True)  # an error message is one line, whatever the width
"""Standard error: errors, notes, progress."""

SYNTHETIC_NOTE = "[yellow]SYNTHETIC sample data, not real prices[/yellow]"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` (rich markup) to stderr and return the Exit to raise (code 2: bad input)."""
    err.print(message)
    return typer.Exit(code)


def fail_error(exc: Exception, code: int = 2) -> typer.Exit:
    """:func:`fail` with the error's class name in red, then its message."""
    return fail(f"[red]{type(exc).__name__}[/red]: {exc}", code)


def parse_date(text: str | None, option: str) -> date | None:
    """The date an option gives as YYYY-MM-DD (None if not given); else fail naming ``option``."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"[red]{option}[/red]: {text!r} is not a date (YYYY-MM-DD)") from None


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (what JSON cannot hold, as its str)."""
    print(json.dumps(value, indent=2, default=str))
