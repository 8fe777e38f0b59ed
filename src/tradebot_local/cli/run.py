"""`tradebot run` and `tradebot invoke`: the pipeline, or one Lambda handler, against the local emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tradebot_local.cli.common import err, fail, fail_error, out, print_json


def register(app: typer.Typer) -> None:
    """Add the run and invoke commands to the `tradebot` app."""
    app.command()(run)
    app.command()(invoke)


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

    raw: dict[str, Any] = {"source": source}
    if symbols:
        raw["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if as_of:
        raw["as_of"] = as_of
    if strategy:
        raw["strategy"] = strategy
    try:
        request = parse_event(PipelineRequest, raw)
    except TradebotError as exc:  # refused before any execution starts: no state failed
        if as_json:
            print_json(
                {
                    "status": "REFUSED",
                    "failed_state": None,
                    "error_type": type(exc).__name__,
                    "error_message": str(exc),
                }
            )
        raise fail_error(exc) from None
    if not as_json:
        err.print(
            "[dim]Deploying template.yaml into the in-process AWS emulator and starting an execution...[/dim]"
        )
    with symbol_progress(err) as show:
        report = run_pipeline(request, show_progress=show)
    if as_json:
        print_json(report.to_json())
    else:
        from tradebot_local.report import print_report

        print_report(report.to_json(), out)
    if report.status != "SUCCEEDED":
        raise typer.Exit(1)


@contextmanager
def symbol_progress(console: Console) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on ``console`` (stderr) for a terminal: the state running, symbols done / total."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("symbols"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("FetchMarketData", total=None)

        def show(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total or None)

        yield show


def invoke(
    function: Annotated[
        str, typer.Argument(help="folder under functions/ (fetch_market_data) or logical id")
    ],
    event: Annotated[Path, typer.Option(help="event JSON file, e.g. events/fetch_market_data.json")],
) -> None:
    """Run one Lambda handler in-process against the emulator (no Docker) and print its output."""
    from tradebot_local.invoke import invoke_function

    try:
        payload = json.loads(event.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(f"[red]cannot read event {event}[/red]: {exc}") from None
    from tradebot.errors import TradebotError

    try:
        ok, result = invoke_function(function, payload)
    except TradebotError as exc:
        raise fail_error(exc) from None
    print_json(result)
    if not ok:
        raise typer.Exit(1)
