"""`tradebot data fetch` and `tradebot data check`: the market data commands (issue: market data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradebot_local.cli.common import SYNTHETIC_NOTE, err, fail, fail_error, out, parse_date, print_json

data_app = typer.Typer(
    help="Market data: fetch Yahoo-format CSVs incrementally, check a source's quality.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the data commands to the `tradebot` app.

    ``fetch`` keeps a directory of Yahoo-format ``SYMBOL.csv`` files up to date, incrementally (only bars
    newer than a file holds are requested), in the source's batches, with a progress bar; the directory is
    then a source for every other command (``--source csv:DIR``). ``check`` runs the pipeline's quality gate
    on a source and prints the report (exit code 1 when a symbol would be skipped): the skipped symbols with
    their reason (``stale`` with the last bar, ``duplicate_dates``, ``unreadable`` naming the file and row,
    ...) and the warnings, including what the source's reader did (``empty_duplicate_dropped``,
    ``intraday_aggregated``, ``adj_close_missing``, ...). Both print what the reader did.
    """
    app.add_typer(data_app, name="data")


def _symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    from tradebot.contracts import Symbol

    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    try:
        return TypeAdapter(list[Symbol]).validate_python(symbols) or None
    except ValidationError as exc:
        bad = sorted({str(symbols[int(e["loc"][0])]) for e in exc.errors() if e["loc"]})
        raise fail(f"[red]--symbols[/red]: not a ticker: {', '.join(bad)}") from None


def _source(spec: str) -> Any:
    from tradebot.data import source_from_spec
    from tradebot.errors import TradebotError

    try:
        return source_from_spec(spec)
    except TradebotError as exc:
        raise fail(f"[red]--source[/red]: {exc}") from None


def _source_and_symbols(source: str, symbols: str | None) -> tuple[Any, list[str]]:
    """The --source and the --symbols to read from it (the source's default list when none are given)."""
    wanted = _symbols(symbols)
    src = _source(source)
    wanted = wanted or src.default_symbols()
    if not wanted:
        raise fail(f"[red]--symbols[/red] is required: {src.name} has no default list")
    return src, wanted


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


@data_app.command()
def fetch(
    out_dir: Annotated[Path, typer.Option("--out", help="directory of SYMBOL.csv files (created if needed)")],
    symbols: Annotated[
        str | None, typer.Option(help="comma-separated tickers, e.g. SPY,QQQ (default: the source's)")
    ] = None,
    source: Annotated[
        str, typer.Option(help="yfinance | sample | csv:DIR | s3://bucket/prefix")
    ] = "yfinance",
    start: Annotated[
        str | None, typer.Option(help="first date for a symbol not yet in --out (default: all history)")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="last date, YYYY-MM-DD (default: the latest completed session)")
    ] = None,
) -> None:
    """Write (or bring up to date) one Yahoo-format CSV per symbol in --out, reusable as --source csv:DIR."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tradebot.calendar import get_calendar
    from tradebot.data.archive import DirectoryStore, HistoryResult, save_history, update_history
    from tradebot.data.universe import ensure_session_closed, expected_last_session
    from tradebot.errors import TradebotError

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    src, wanted = _source_and_symbols(source, symbols)
    calendar = get_calendar()
    now = datetime.now(UTC)
    try:
        last = last or _default_end(src, calendar, now)
        up_to = expected_last_session(calendar, last)
        if src.live:
            ensure_session_closed(calendar, up_to, now)
    except TradebotError as exc:
        raise fail_error(exc) from None
    if first is not None and first > last:
        raise fail(f"[red]--start[/red] {first} is after --end {last}")
    store = DirectoryStore(out_dir)
    if src.synthetic:
        from tradebot.data.csv_source import mark_synthetic

        err.print(SYNTHETIC_NOTE)
        store.directory.mkdir(parents=True, exist_ok=True)
        mark_synthetic(store.directory, src.name)  # so --source csv:DIR labels them synthetic too
    results: list[HistoryResult] = []
    error: TradebotError | None = None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        progress.console.print(f"[dim]{src.name} -> {store.name}[/dim]")
        task = progress.add_task("fetching", total=len(wanted))
        for chunk in _chunks(wanted, getattr(src, "batch_size", 10)):
            try:
                result = update_history(src, store, chunk, first, last, up_to=up_to)
                save_history(store, result, src.name)  # each chunk is saved: a rerun resumes after it
            except TradebotError as exc:
                error = exc
                break
            results.append(result)
            progress.advance(task, len(chunk))
    failed = _print_fetch(results, store, src.synthetic)
    if error is not None:
        raise fail(
            f"[red]{type(error).__name__}[/red]: {error}\n"
            "Symbols listed above are saved; run the same command again to continue.",
            1,
        )
    if failed:
        raise typer.Exit(1)


def _default_end(src: Any, calendar: Any, now: datetime) -> date:
    if src.synthetic and src.name == "sample":
        from tradebot.data.sample import SAMPLE_LAST_SESSION

        return SAMPLE_LAST_SESSION
    result: date = calendar.latest_completed_session(now)
    return result


def _print_fetch(results: list[Any], store: Any, synthetic: bool) -> int:
    table = Table(title=f"Market data in {store.name}", title_justify="left", title_style="bold")
    for column in ("symbol", "bars", "first", "last", "new", "status"):
        table.add_column(column, justify="right" if column in ("bars", "new") else "left")
    failed = 0
    for result in results:
        warnings = {w.symbol: w for w in result.warnings}
        for symbol, update in result.updates.items():
            frame = result.changed.get(symbol)
            if frame is None:
                frame = store.read(symbol)
            if symbol in result.failures:
                failed += 1
                table.add_row(symbol, "", "", "", "", f"[red]failed[/red]: {result.failures[symbol]}")
                continue
            status = (
                "restated: refetched"
                if update.restated
                else "written"
                if symbol in result.changed
                else "up to date"
            )
            if symbol in warnings and warnings[symbol].reason == "fetch_failed":
                status = f"[yellow]{warnings[symbol].detail}[/yellow]"
            table.add_row(
                symbol,
                str(len(frame)),
                str(frame.index[0].date()),
                str(frame.index[-1].date()),
                str(update.new_bars),
                status,
            )
        for symbol, reason in result.failures.items():
            if symbol not in result.updates:  # a file that could not be read (left untouched)
                failed += 1
                table.add_row(symbol, "", "", "", "", f"[red]failed[/red]: {reason}")
    out.print(table)
    for result in results:  # what the source's reader did (dropped duplicates, aggregated intraday rows)
        for warning in result.warnings:
            if warning.reason != "fetch_failed":
                out.print(f"[yellow]{warning.symbol}: {warning.reason}[/yellow]: {warning.detail}")
    note = f"  ({SYNTHETIC_NOTE})" if synthetic else ""
    out.print(f"Use it with [bold]--source csv:{store.name}[/bold]{note}")
    return failed


@data_app.command()
def check(
    source: Annotated[str, typer.Option(help="sample | yfinance | csv:DIR | s3://bucket/prefix")] = "sample",
    symbols: Annotated[str | None, typer.Option(help="comma-separated (default: the source's)")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="session whose close the data must reach (default: the latest)"),
    ] = None,
    start: Annotated[str | None, typer.Option(help="check bars from this date (default: all)")] = None,
    min_bars: Annotated[int, typer.Option(help="fewer bars than this: too_short")] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Run the pipeline's quality gate on a source and print the report (exit 1 if a symbol is skipped)."""
    from tradebot.calendar import get_calendar
    from tradebot.data import default_as_of
    from tradebot.data.universe import fetch_bars
    from tradebot.errors import TradebotError

    first, day = parse_date(start, "--start"), parse_date(as_of, "--as-of")
    src, wanted = _source_and_symbols(source, symbols)
    if min_bars < 1:
        raise fail("[red]--min-bars[/red] must be >= 1")
    calendar = get_calendar()
    try:
        day = day or default_as_of(src, calendar, datetime.now(UTC))
        fetched = fetch_bars(
            src,
            wanted,
            day,
            calendar,
            run_id="check",
            start=first,
            max_failed_fraction=1.0,
            min_bars=min_bars,
        )
    except TradebotError as exc:
        raise fail_error(exc, 1) from None
    report = fetched.report
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _print_check(report)
    if report.skipped:
        raise typer.Exit(1)


def _print_check(report: Any) -> None:
    synthetic = f"  {SYNTHETIC_NOTE}" if report.synthetic else ""
    out.print(
        f"[bold]Data quality[/bold] of {report.source} as of {report.as_of} "
        f"(last bar expected on {report.expected_last_session}){synthetic}"
    )
    table = Table(title_justify="left")
    for column in ("symbol", "status", "reason", "detail"):
        table.add_column(column)
    for symbol in report.ok:
        table.add_row(symbol, "[green]ok[/green]", "", "")
    for issue in report.skipped:
        table.add_row(issue.symbol, "[red]skipped[/red]", issue.reason, issue.detail)
    for issue in report.warnings:
        table.add_row(issue.symbol, "[yellow]warning[/yellow]", issue.reason, issue.detail)
    out.print(table)
    out.print(f"{len(report.ok)} ok, {len(report.skipped)} skipped, {len(report.warnings)} warning(s)")
