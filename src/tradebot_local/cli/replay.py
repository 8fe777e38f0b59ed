"""`tradebot simulate` and `tradebot replay`: what the bot would have done over past sessions, and the proof
that its production path and its research simulation agree, order for order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from tradebot_local.reconcile import Production
    from tradebot_local.replay import ReplayRequest

from tradebot_local.cli.common import SYNTHETIC_NOTE, err, fail, fail_error, parse_date, print_json, wide_out

SourceOpt = Annotated[str, typer.Option("--source", help="sample | csv:DIR | s3://bucket/prefix | yfinance")]
SymbolsOpt = Annotated[str | None, typer.Option("--symbols", help="comma-separated (default: the source's)")]
FromOpt = Annotated[str, typer.Option("--from", help="first session YYYY-MM-DD")]
ToOpt = Annotated[str, typer.Option("--to", help="last session YYYY-MM-DD")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="write a PNG: equity and drawdown")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="strategy name (default: the config's)")]
TradesOpt = Annotated[int, typer.Option("--trades", help="fills to list (the last N)")]


def register(app: typer.Typer) -> None:
    """Add simulate and replay to the `tradebot` app."""
    app.command()(simulate)
    app.command()(replay)
    app.command()(reconcile)


def simulate(
    source: SourceOpt = "sample",
    symbols: SymbolsOpt = None,
    start: FromOpt = "",
    end: ToOpt = "",
    strategy: StrategyOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    trades: TradesOpt = 10,
) -> None:
    """What the deployed bot would have done over [--from, --to]: its decisions, orders and fills, in-process
    (no emulated Step Functions, Lambda, S3 or SQS), with the pipeline's own code."""
    from tradebot.errors import TradebotError
    from tradebot_local.simulate import simulate_range

    request = _request(source, symbols, start, end, strategy)
    try:
        with session_progress("simulate", as_json) as show:
            history = simulate_range(request, on_session=show)
    except TradebotError as exc:
        raise fail_error(exc) from None
    _report(history, "simulate", as_json, plot, trades)


def replay(
    source: SourceOpt = "sample",
    symbols: SymbolsOpt = None,
    start: FromOpt = "",
    end: ToOpt = "",
    strategy: StrategyOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    trades: TradesOpt = 10,
    check: Annotated[
        bool,
        typer.Option("--check", help="also simulate, compare every order and fill; exit 1 on a difference"),
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="forget an earlier replay of these arguments")
    ] = False,
) -> None:
    """The real state machine once per session over [--from, --to] on a local account of its own, the
    executor filling at each next open (resumable: a rerun goes on after the last completed session)."""
    from tradebot.errors import TradebotError
    from tradebot_local.history import first_difference, write_plot
    from tradebot_local.replay import ReplayInterrupted
    from tradebot_local.replay import replay as replay_range
    from tradebot_local.simulate import simulate_range

    request = _request(source, symbols, start, end, strategy)
    try:
        with session_progress("replay", as_json) as show:
            try:
                history = replay_range(request, on_session=show, fresh=fresh)
            except ReplayInterrupted as stopped:
                raise fail(f"[yellow]{escape(str(stopped))}[/yellow]", 130) from None
        simulated = None
        if check:
            with session_progress("simulate", as_json) as show:
                simulated = simulate_range(request, on_session=show)
    except TradebotError as exc:
        raise fail_error(exc) from None
    if simulated is None:
        _report(history, "replay", as_json, plot, trades)
        return
    if as_json:  # one object: both histories and the comparison
        if plot is not None:
            write_plot(history, plot, f"tradebot replay ({history.source})")
    else:
        _report(history, "replay", False, plot, trades)
    difference = first_difference(simulated, history)
    if as_json:
        print_json(
            {
                "replay": history.to_json(),
                "simulate": simulated.to_json(),
                "identical": difference is None,
                "first_difference": None
                if difference is None
                else {"session": difference.session, "symbol": difference.symbol, "cause": difference.cause},
            }
        )
    elif difference is None:
        counts = f"{len(history.orders)} orders, {len(history.fills)} fills"
        wide_out.print(
            f"[green]replay and simulate agree[/green]: {counts}, cash and equity at "
            f"{len(history.sessions)} session closes"
        )
    else:
        wide_out.print(f"[red]first difference[/red] {escape(str(difference))}")
    if difference is not None:
        raise typer.Exit(1)


def reconcile(
    stack: Annotated[
        str, typer.Option("--stack", help="the deployed stack (samconfig.toml's stack_name)")
    ] = "tradebot",
    region: Annotated[str | None, typer.Option("--region", help="default: the AWS config's")] = None,
    sessions: Annotated[int, typer.Option("--sessions", help="the last N NYSE sessions", min=1)] = 20,
    end: Annotated[str | None, typer.Option("--to", help="last session (default: the latest closed)")] = None,
    as_json: JsonOpt = False,
    publish: Annotated[
        bool,
        typer.Option("--publish", help="put TradeBot/ParityDifferences (the stack's ParityAlarm watches it)"),
    ] = False,
) -> None:
    """The deployed paper account's last --sessions sessions against research (`tradebot simulate` from the
    book the first one recorded, on the bars its runs archived): every order and fill compared; exit 1 on
    a difference. Reads the stack's tables and bucket with your AWS credentials; writes nothing (but the
    metric, with --publish)."""
    from tradebot.errors import TradebotError
    from tradebot_local.reconcile import reconcile as reconcile_window

    last = parse_date(end, "--to")
    try:
        production = read_deployment(stack, region, sessions, last)
        with session_progress("research", as_json):
            result = reconcile_window(production)
    except TradebotError as exc:
        raise fail_error(exc) from None
    counts = {"differences": len(result.differences), "sessions": len(production.window)}
    if publish:
        publish_parity(region, stack, counts)
    if as_json:
        print_json(
            {
                "stack": stack,
                "window": [production.window[0].isoformat(), production.window[-1].isoformat()],
                "sessions": len(production.window),
                "orders": len(result.production.orders),
                "fills": len(result.production.fills),
                "unchecked": result.unchecked,
                "identical": not result.differences,
                "differences": [
                    {"session": d.session, "symbol": d.symbol, "cause": d.cause} for d in result.differences
                ],
            }
        )
    else:
        window = f"{production.window[0]}..{production.window[-1]}"
        checked = f"{len(result.production.orders)} orders, {len(result.production.fills)} fills"
        if result.unchecked:
            checked += f" ({result.unchecked} orders whose fill has no archived bar yet: not checked)"
        if result.first is None:
            wide_out.print(f"[green]production and research agree[/green] over {window}: {checked}")
        else:
            wide_out.print(f"{len(result.differences)} difference(s) over {window} ({checked})")
            wide_out.print(f"[red]first difference[/red] {escape(str(result.first))}")
    if result.differences:
        raise typer.Exit(1)


def read_deployment(stack: str, region: str | None, sessions: int, end: date | None) -> Production:
    """What reconcile compares, read from the deployed ``stack`` (its outputs name the tables and bucket)."""
    import boto3

    from tradebot.calendar import get_calendar
    from tradebot_local.reconcile import read_production, settings_of, stack_names

    session = boto3.session.Session(region_name=region)
    names, parameters = stack_names(session.client("cloudformation"), stack)
    last = end or get_calendar().latest_completed_session(datetime.now(UTC))
    return read_production(
        session.client("dynamodb"),
        session.client("s3"),
        names,
        settings_of(parameters),
        sessions=sessions,
        end=last,
    )


PARITY_NAMESPACE = "TradeBot"
PARITY_METRIC = "ParityDifferences"  # template.yaml's ParityAlarm watches it


def publish_parity(region: str | None, stack: str, counts: dict[str, int]) -> None:
    """TradeBot/ParityDifferences and ParitySessionsChecked, dimensions service=tradebot and stack."""
    import boto3

    dimensions = [{"Name": "service", "Value": "tradebot"}, {"Name": "stack", "Value": stack}]
    boto3.session.Session(region_name=region).client("cloudwatch").put_metric_data(
        Namespace=PARITY_NAMESPACE,
        MetricData=[
            {"MetricName": PARITY_METRIC, "Dimensions": dimensions, "Value": counts["differences"]},
            {"MetricName": "ParitySessionsChecked", "Dimensions": dimensions, "Value": counts["sessions"]},
        ],
    )


def _request(source: str, symbols: str | None, start: str, end: str, strategy: str | None) -> ReplayRequest:
    """The request (a simulation's is a replay's) the options give; fail with exit code 2."""
    first, last = parse_date(start or None, "--from"), parse_date(end or None, "--to")
    if first is None or last is None:
        raise fail("[red]--from and --to[/red] are both needed (sessions YYYY-MM-DD)")
    if last < first:
        raise fail(f"[red]--to[/red] {last} is before --from {first}")
    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip()) if symbols else None
    if strategy is not None:
        from tradebot.contracts import STRATEGY_NAMES

        if strategy not in STRATEGY_NAMES:
            raise fail(f"[red]--strategy[/red] {strategy!r}: valid: {', '.join(sorted(STRATEGY_NAMES))}")
    from tradebot_local.replay import ReplayRequest

    return ReplayRequest(source, names or None, first, last, strategy)


@contextmanager
def session_progress(what: str, quiet: bool) -> Iterator[Callable[[int, int, date], None] | None]:
    """A progress bar on stderr, sessions done / total (terminals only)."""
    if quiet or not err.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def show(done: int, total: int, day: date) -> None:
            bar.update(task, description=f"{what} {day}", completed=done, total=total)

        yield show


def _report(history: object, what: str, as_json: bool, plot: Path | None, trades: int) -> None:
    from tradebot_local.history import AccountHistory, write_plot

    assert isinstance(history, AccountHistory)
    if plot is not None:
        write_plot(history, plot, f"tradebot {what} ({history.source})")
    if as_json:
        print_json(history.to_json())
        return
    print_history(history, what, trades)
    if plot is not None:
        wide_out.print(f"plot written to {plot}")


STAT_ROWS: tuple[tuple[str, str], ...] = (
    ("Start", "start"),
    ("End", "end"),
    ("Sessions", "sessions"),
    ("Failed sessions (no decision)", "failed_sessions"),
    ("Exposure Time [%]", "exposure_pct"),
    ("Equity Final [$]", "final_equity"),
    ("Equity Peak [$]", "equity_peak"),
    ("Commissions [$]", "commission_paid"),
    ("Return [%]", "total_return_pct"),
    ("CAGR [%]", "cagr_pct"),
    ("Volatility (Ann.) [%]", "volatility_ann_pct"),
    ("Sharpe Ratio", "sharpe"),
    ("Sortino Ratio", "sortino"),
    ("Calmar Ratio", "calmar"),
    ("Max. Drawdown [%]", "max_drawdown_pct"),
    ("Max. Drawdown Duration [sessions]", "max_drawdown_duration_sessions"),
    ("# Fills", "n_trades"),
)


def print_history(history: object, what: str, n_fills: int) -> None:
    """The stats table (as `tradebot backtest` prints it) and the last fills."""
    from tradebot_local.history import AccountHistory

    assert isinstance(history, AccountHistory)
    if history.synthetic:
        wide_out.print(SYNTHETIC_NOTE)
    stats = history.stats()
    table = Table(show_header=False, box=None, pad_edge=False, title=f"tradebot {what} ({history.source})")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, key in STAT_ROWS:
        value = stats.get(key)
        digits = 3 if "Ratio" in label else 2
        table.add_row(escape(label), f"{value:,.{digits}f}" if isinstance(value, float) else str(value))
    wide_out.print(table)
    failed = [s for s in history.sessions if s.status != "DECIDED"]
    for s in failed[:5]:
        wide_out.print(f"[yellow]{s.date}[/yellow]: no decision ({escape(s.note)})")
    if len(failed) > 5:
        wide_out.print(f"... and {len(failed) - 5} more sessions without a decision (--json lists them)")
    for r in history.splits:
        lieu = f", cash in lieu {r.cash_in_lieu:,.2f}" if r.cash_in_lieu else ""
        wide_out.print(
            f"split applied: {r.symbol} {r.ratio} (ex-date {r.ex_date}): "
            f"{r.shares_before} -> {r.shares_after} shares{lieu}"
        )
    if history.fills and n_fills > 0:
        shown = history.fills[-n_fills:]
        listing = Table(title=f"Fills (last {len(shown)} of {len(history.fills)})", box=box.SIMPLE_HEAD)
        for col in ("decided", "filled", "symbol", "side", "qty", "price", "commission"):
            listing.add_column(col, justify="right", no_wrap=True)
        for f in shown:
            listing.add_row(
                f.as_of.isoformat(),
                f.session.isoformat(),
                f.symbol,
                f.side,
                str(f.quantity),
                f"{f.price:,.4f}",
                f"{f.commission:,.2f}",
            )
        wide_out.print(listing)
