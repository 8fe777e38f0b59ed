"""`tradebot`: the local command line (installed in the project's venv, never shipped to AWS)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tradebot_local.cli import account as cli_account
from tradebot_local.cli import data as cli_data
from tradebot_local.cli import research as cli_research

app = typer.Typer(
    help="Serverless trading bot: run the pipeline locally against emulated AWS, invoke one function.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
out = Console()
err = Console(stderr=True)


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it between invocations)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _quiet_logs() -> None:
    """Send the Powertools JSON logs to stderr, so stdout carries only the report (and --json stays JSON),
    at POWERTOOLS_LOG_LEVEL (default WARNING: the handlers' INFO lines would bury the report)."""
    import logging
    import os

    from tradebot.observability import logger

    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"))
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _Stderr()


@app.command()
def run(
    source: Annotated[str, typer.Option(help="sample | yfinance | csv:DIR")] = "sample",
    symbols: Annotated[str | None, typer.Option(help="comma-separated, e.g. SYN-A,SYN-B")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="session date YYYY-MM-DD (decision at its close)")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="strategy name (default: the config's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of tables")] = False,
) -> None:
    """Run the whole pipeline: the real state machine in the emulator, then the executor fills the orders."""
    from tradebot.contracts import PipelineRequest, parse_event
    from tradebot.errors import TradebotError
    from tradebot_local.runner import run_pipeline

    _quiet_logs()
    raw: dict[str, Any] = {"source": source}
    if symbols:
        raw["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if as_of:
        raw["as_of"] = as_of
    if strategy:
        raw["strategy"] = strategy
    try:
        request = parse_event(PipelineRequest, raw)
    except TradebotError as exc:
        err.print(f"[red]{type(exc).__name__}[/red]: {exc}")
        raise typer.Exit(2) from None
    if not as_json:
        err.print(
            "[dim]Deploying template.yaml into the in-process AWS emulator and starting an execution...[/dim]"
        )
    report = run_pipeline(request)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        from tradebot_local.report import print_report

        print_report(report.to_json(), out)
    if report.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def invoke(
    function: Annotated[
        str, typer.Argument(help="folder under functions/ (fetch_market_data) or logical id")
    ],
    event: Annotated[Path, typer.Option(help="event JSON file, e.g. events/fetch_market_data.json")],
) -> None:
    """Run one Lambda handler in-process against the emulator (no Docker) and print its output."""
    from tradebot_local.invoke import invoke_function

    _quiet_logs()
    try:
        payload = json.loads(event.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        err.print(f"[red]cannot read event {event}[/red]: {exc}")
        raise typer.Exit(2) from None
    ok, result = invoke_function(function, payload)
    print(json.dumps(result, indent=2, default=str))
    if not ok:
        raise typer.Exit(1)


cli_research.register(app)
cli_data.register(app)
cli_account.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
