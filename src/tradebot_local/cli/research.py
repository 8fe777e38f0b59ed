"""`tradebot backtest` and `tradebot optimize`: the strategy research commands (on tradebot.strategy)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tradebot_local.cli.common import (
    SYNTHETIC_NOTE,
    err,
    fail,
    fail_error,
    parse_date,
    print_json,
    wide_out,
)

if TYPE_CHECKING:
    import pandas as pd

    from tradebot.strategy import BacktestResult, FillModel, OptimizationOutcome

FAR_FUTURE = date(2100, 1, 1)


def register(app: typer.Typer) -> None:
    """Add the research commands to the `tradebot` app."""
    app.command(name="backtest")(backtest_command)
    app.command(name="optimize")(optimize_command)


class UsageError(Exception):
    """A bad option value: printed in red, exit code 2."""


# --- options shared by both commands --------------------------------------------------------------------

DataOpt = Annotated[
    str, typer.Option("--data", help="csv:FILE | csv:DIR (with --symbol) | sample | yfinance")
]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", help="ticker (csv:DIR, yfinance, sample)")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help="strategy name, e.g. sma_crossover")]
CashOpt = Annotated[float, typer.Option("--cash", help="initial cash")]
CommissionOpt = Annotated[float, typer.Option("--commission", help="fraction of traded value per fill")]
PerShareOpt = Annotated[float, typer.Option("--commission-per-share", help="commission per share")]
SlippageOpt = Annotated[float, typer.Option("--slippage-bps", help="buys fill higher, sells lower (bps)")]
FractionalOpt = Annotated[bool, typer.Option("--fractional", help="fractional shares (default: whole)")]
SizeOpt = Annotated[
    float | None, typer.Option("--size-fraction", help="invest this fraction of equity (default: all in)")
]
LongShortOpt = Annotated[bool, typer.Option("--long-short", help="exit signals open a short (reversal)")]
AdjustOpt = Annotated[str, typer.Option("--adjust", help="none | total-return (scale OHLC by Adj Close)")]
StartOpt = Annotated[str | None, typer.Option("--start", help="first date YYYY-MM-DD")]
EndOpt = Annotated[str | None, typer.Option("--end", help="last date YYYY-MM-DD")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@dataclass(frozen=True)
class Loaded:
    bars: pd.DataFrame
    symbol: str
    source: str
    synthetic: bool
    # what the pipeline's quality gate (tradebot.data.quality) says of these bars: warnings, and the
    # reason it would skip the symbol (the research commands go on, but say so)
    checks: tuple[dict[str, str], ...] = ()


def load_bars(data: str, symbol: str | None, start: str | None, end: str | None) -> Loaded:
    """One symbol's bars from ``--data``, between ``start`` and ``end``.

    ``--data`` is ``csv:FILE`` (a Yahoo-format CSV: Date,Open,High,Low,Close,Adj Close,Volume; the symbol
    is the file name without ``.csv``/``.csv.gz``: ``BRK.B.csv`` is BRK.B), ``csv:DIR`` with ``--symbol``
    (DIR/SYMBOL.csv), ``sample`` (synthetic SYN-A..E, ``--symbol`` defaults to SYN-A) or ``yfinance``
    with ``--symbol`` (needs the internet). The files are read strictly (tradebot.data.csv_source); what
    the reader did (dropped duplicates, aggregated intraday rows) is printed on stderr.
    """
    from tradebot.data import LoadResult, source_from_spec
    from tradebot.data.csv_source import load_file, read_bars_csv, symbol_of_file

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    spec = data.strip()
    if spec.lower().startswith("csv:") and Path(spec[4:]).expanduser().is_file():
        path = Path(spec[4:]).expanduser()
        name = (symbol or symbol_of_file(path.name) or path.stem).strip().upper()
        loaded = LoadResult()
        load_file(loaded, name, lambda: read_bars_csv(path), path.name, first, last or FAR_FUTURE)
        source_name, synthetic = f"csv:{path}", False
    else:
        source = source_from_spec(spec)
        if symbol is None:
            if source.name != "sample":
                choices = source.default_symbols()
                hint = f" (available: {', '.join(choices)})" if choices else ""
                raise UsageError(f"--symbol is needed with --data {spec}{hint}")
            symbol = "SYN-A"
        name = symbol.strip().upper()
        loaded = source.load([name], first, last or (date.today() if source.live else FAR_FUTURE))
        source_name, synthetic = source.name, source.synthetic
    for warning in loaded.warnings:
        err.print(f"[yellow]{warning.symbol}: {warning.reason}[/yellow]: {escape(warning.detail)}")
    if name not in loaded.frames:
        reason = loaded.failures.get(name, "no data")
        if reason.startswith("unreadable CSV: "):
            from tradebot.errors import InputValidationError

            raise InputValidationError(reason.removeprefix("unreadable CSV: "))
        raise UsageError(f"{name}: {loaded.code(name)}: {reason}")
    return _checked(Loaded(loaded.frames[name], name, source_name, synthetic), first, last)


def _checked(loaded: Loaded, first: date | None, last: date | None) -> Loaded:
    """The pipeline's quality gate on the bars, as of their last bar, printed on stderr."""
    from dataclasses import replace

    from tradebot.calendar import get_calendar
    from tradebot.data.quality import check_bars

    if loaded.bars.empty:
        span = f" between {first or 'the start'} and {last or 'the end'}" if first or last else ""
        raise UsageError(f"{loaded.symbol}: no bars{span}")
    report = check_bars(
        {loaded.symbol: loaded.bars}, loaded.bars.index[-1].date(), get_calendar(), min_bars=1
    )
    checks = [{"kind": "skip", **issue.model_dump()} for issue in report.issues] + [
        {"kind": "warning", **issue.model_dump()} for issue in report.warnings
    ]
    for check in checks:
        colour, what = (
            ("red", "the pipeline would skip it") if check["kind"] == "skip" else ("yellow", "warning")
        )
        err.print(
            f"[{colour}]{check['symbol']}: {check['reason']}[/{colour}] ({what}): {escape(check['detail'])}"
        )
    return replace(loaded, checks=tuple(checks))


def parse_params(items: list[str] | None) -> dict[str, float]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": 10.0, "slow": 30.0}``."""
    params: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            params[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--param {item!r}: expected NAME=NUMBER, e.g. fast=10") from None
    return params


def parse_grid(items: list[str] | None) -> dict[str, list[float]] | None:
    """``["fast=5:50", "k=1:3:0.5", "slow=20,50,100"]`` -> value lists; ranges include both ends."""
    if not items:
        return None
    grid: dict[str, list[float]] = {}
    for item in items:
        key, sep, spec = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            grid[key.strip()] = _grid_values(spec)
        except ValueError:
            raise UsageError(
                f"--grid {item!r}: expected NAME=START:STOP[:STEP] (both ends included) or NAME=V1,V2,..."
            ) from None
    return grid


def _grid_values(spec: str) -> list[float]:
    if ":" not in spec:
        values = [float(v) for v in spec.split(",")]
    else:
        parts = [float(v) for v in spec.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        begin, stop = parts[0], parts[1]
        step = parts[2] if len(parts) == 3 else 1.0
        if not (step > 0 and stop >= begin) or (stop - begin) / step > 1_000_000:
            raise ValueError
        count = math.floor((stop - begin) / step + 1e-9) + 1
        values = [round(begin + i * step, 10) for i in range(count)]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError
    return values


def make_fill(
    cash: float,
    commission: float,
    per_share: float,
    slippage_bps: float,
    fractional: bool,
    size_fraction: float | None,
    long_short: bool,
) -> FillModel:
    from tradebot.strategy import fill_model

    return fill_model(
        None,
        cash=cash,
        commission=commission,
        commission_per_share=per_share,
        slippage_bps=slippage_bps,
        fractional=fractional,
        sizing="all_in" if size_fraction is None else "fixed_fraction",
        fraction=1.0 if size_fraction is None else size_fraction,
        long_short=long_short,
    )


def _adjust(value: str) -> str:
    adjust = value.strip().lower().replace("-", "_")
    if adjust not in ("none", "total_return"):
        raise UsageError(f"--adjust {value!r}: use none or total-return")
    return adjust


def _run(body: Any) -> Any:
    """Run ``body``; usage and input errors print in red and exit 2."""
    from tradebot.errors import TradebotError

    try:
        return body()
    except UsageError as exc:
        raise fail(f"[red]error[/red]: {exc}") from None
    except TradebotError as exc:
        raise fail_error(exc) from None


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _params_text(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


# --- backtest -------------------------------------------------------------------------------------------


def backtest_command(
    data: DataOpt,
    strategy: StrategyOpt,
    symbol: SymbolOpt = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE (repeatable)")] = None,
    cash: CashOpt = 10_000.0,
    commission: CommissionOpt = 0.0,
    commission_per_share: PerShareOpt = 0.0,
    slippage_bps: SlippageOpt = 0.0,
    fractional: FractionalOpt = False,
    size_fraction: SizeOpt = None,
    long_short: LongShortOpt = False,
    adjust: AdjustOpt = "none",
    start: StartOpt = None,
    end: EndOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="write a PNG: equity, drawdown, trades")] = None,
    trades: Annotated[int, typer.Option("--trades", help="trades to list (the last N)")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Backtest one strategy on one symbol: statistics, trades, optional equity plot. Parameters not
    given with --param keep the strategy's defaults."""
    from tradebot.strategy import backtest, get_strategy

    def body() -> tuple[Loaded, BacktestResult]:
        fill = make_fill(
            cash, commission, commission_per_share, slippage_bps, fractional, size_fraction, long_short
        )
        loaded = load_bars(data, symbol, start, end)
        params = {**get_strategy(strategy).default_params.as_dict(), **parse_params(param)}
        result = backtest(loaded.bars, strategy, params, fill=fill, adjust=_adjust(adjust))
        return loaded, result

    loaded, result = _run(body)
    if plot is not None:
        write_plot(result, plot, f"{loaded.symbol} {result.strategy}({_params_text(result.params)})")
    if as_json:
        print_json(_clean(backtest_json(loaded, result)))
        return
    print_backtest(loaded, result, trades)
    if plot is not None:
        wide_out.print(f"plot written to {plot}")


def backtest_json(loaded: Loaded, result: BacktestResult) -> dict[str, Any]:
    def day(ts: Any) -> str | None:
        return None if ts is None else ts.date().isoformat()

    return {
        "symbol": loaded.symbol,
        "source": loaded.source,
        "synthetic": loaded.synthetic,
        "data_checks": list(loaded.checks),
        "strategy": result.strategy,
        "params": result.params,
        "fill": result.fill.model_dump(),
        "stats": result.stats,
        "trades": [
            {
                "entry_time": day(t.entry_time),
                "exit_time": day(t.exit_time),
                "entry_price": t.entry_price,
                "exit_price": t.exit_price,
                "size": t.size,
                "pnl": t.pnl,
                "return_pct": t.return_pct,
                "commission": t.commission,
            }
            for t in result.trades
        ],
    }


STAT_ROWS: tuple[tuple[str, str], ...] = (
    ("Start", "start"),
    ("End", "end"),
    ("Bars", "n_bars"),
    ("Exposure Time [%]", "exposure_pct"),
    ("Equity Final [$]", "final_equity"),
    ("Equity Peak [$]", "equity_peak"),
    ("Commissions [$]", "commission_paid"),
    ("Return [%]", "total_return_pct"),
    ("Buy & Hold Return [%]", "buy_and_hold_return_pct"),
    ("CAGR [%]", "cagr_pct"),
    ("Volatility (Ann.) [%]", "volatility_ann_pct"),
    ("Sharpe Ratio", "sharpe"),
    ("Sharpe Ratio (backtesting.py)", "sharpe_btpy"),
    ("Sortino Ratio", "sortino"),
    ("Calmar Ratio", "calmar"),
    ("Max. Drawdown [%]", "max_drawdown_pct"),
    ("Max. Drawdown Duration [days]", "max_drawdown_duration_days"),
    ("# Trades", "n_trades"),
    ("Win Rate [%]", "win_rate_pct"),
    ("Best Trade [%]", "best_trade_pct"),
    ("Worst Trade [%]", "worst_trade_pct"),
    ("Avg. Trade [%]", "avg_trade_pct"),
    ("Profit Factor", "profit_factor"),
)


def print_backtest(loaded: Loaded, result: BacktestResult, n_trades: int) -> None:
    if loaded.synthetic:
        wide_out.print(SYNTHETIC_NOTE)
    stats = result.stats
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("Symbol", f"{loaded.symbol} ({loaded.source})")
    table.add_row("Strategy", f"{result.strategy}({_params_text(result.params)})")
    table.add_row(
        "Fill model", result.fill.describe() + ("" if stats["adjust"] == "none" else ", total-return")
    )
    for label, key in STAT_ROWS:
        digits = 3 if "Ratio" in label or label == "Profit Factor" else 2
        table.add_row(escape(label), _fmt(stats.get(key), digits))
    if stats.get("open_position"):
        table.add_row("Open position [shares]", _fmt(stats["open_position"], 4))
    if stats.get("bust"):
        table.add_row("[red]Bust on[/red]", stats["bust"])
    wide_out.print(table)
    skipped = stats.get("entries_not_taken") or []
    if skipped:
        days = ", ".join(str(d) for d in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        wide_out.print(
            f"[yellow]{len(skipped)} entry signal(s) could not be taken[/yellow]: not one whole share was "
            f"affordable at the next open ({days}); try more --cash, --fractional or a cheaper symbol"
        )
    if result.trades and n_trades > 0:
        shown = result.trades[-n_trades:]
        listing = Table(title=f"Trades (last {len(shown)} of {len(result.trades)})", box=box.SIMPLE_HEAD)
        for col in ("entry", "exit", "size", "entry price", "exit price", "pnl", "return %"):
            listing.add_column(col, justify="right", no_wrap=True)
        for t in shown:
            listing.add_row(
                t.entry_time.date().isoformat(),
                t.exit_time.date().isoformat() if t.exit_time is not None else "open",
                _fmt(t.size, 0 if t.size == round(t.size) else 4),
                _fmt(t.entry_price),
                _fmt(t.exit_price),
                _fmt(t.pnl),
                _fmt(t.return_pct),
            )
        wide_out.print(listing)


def write_plot(result: BacktestResult, path: Path, title: str) -> None:
    """Equity (with trade entries and exits) over drawdown, as a PNG. matplotlib is imported here only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = result.equity
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    top.plot(equity.index, equity.to_numpy(), color="tab:blue", linewidth=1.0, label="equity")
    entries = [t.entry_time for t in result.trades]
    exits = [t.exit_time for t in result.trades if t.exit_time is not None]
    top.scatter(entries, equity.loc[entries], marker="^", color="tab:green", s=22, zorder=3, label="entry")
    top.scatter(exits, equity.loc[exits], marker="v", color="tab:red", s=22, zorder=3, label="exit")
    if equity.max() > 50 * max(equity.min(), 1e-9):
        top.set_yscale("log")  # decades of compounding: a log scale keeps the early years readable
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.4, linewidth=0)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- optimize -------------------------------------------------------------------------------------------


def optimize_command(
    data: DataOpt,
    strategy: StrategyOpt,
    symbol: SymbolOpt = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="NAME=START:STOP[:STEP] (ends included) or NAME=V1,V2 (repeatable)"),
    ] = None,
    objective: Annotated[
        str, typer.Option("--objective", help="sharpe | sortino | calmar | total_return")
    ] = ("sharpe"),
    walk_forward: Annotated[
        int, typer.Option("--walk-forward", help="walk-forward folds (1: one train/test split)")
    ] = 1,
    anchored: Annotated[
        bool, typer.Option("--anchored", help="walk-forward trains from the first bar")
    ] = False,
    train_fraction: Annotated[float, typer.Option("--train-fraction", help="first training window")] = 0.7,
    min_trades: Annotated[int, typer.Option("--min-trades", help="fewer trades in sample: not eligible")] = 2,
    top: Annotated[int, typer.Option("--top", help="parameter sets to list")] = 10,
    cash: CashOpt = 10_000.0,
    commission: CommissionOpt = 0.0,
    commission_per_share: PerShareOpt = 0.0,
    slippage_bps: SlippageOpt = 0.0,
    fractional: FractionalOpt = False,
    size_fraction: SizeOpt = None,
    long_short: LongShortOpt = False,
    adjust: AdjustOpt = "none",
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a parameter grid (vectorized): the top sets in and out of sample, walk-forward folds."""
    from tradebot.strategy import optimize

    def body() -> tuple[Loaded, OptimizationOutcome]:
        fill = make_fill(
            cash, commission, commission_per_share, slippage_bps, fractional, size_fraction, long_short
        )
        values = parse_grid(grid)
        loaded = load_bars(data, symbol, start, end)
        outcome = optimize(
            loaded.bars,
            strategy,
            objective=objective,
            train_fraction=train_fraction,
            min_trades=min_trades,
            fill=fill,
            grid=values,
            folds=walk_forward,
            anchored=anchored,
            adjust=_adjust(adjust),
            top=top,
        )
        return loaded, outcome

    began = time.perf_counter()
    loaded, outcome = _run(body)
    if as_json:
        print_json(_clean(optimize_json(loaded, outcome)))
        return
    print_optimize(loaded, outcome, time.perf_counter() - began)


def optimize_json(loaded: Loaded, outcome: OptimizationOutcome) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "symbol": loaded.symbol,
        "source": loaded.source,
        "synthetic": loaded.synthetic,
        "data_checks": list(loaded.checks),
        "strategy": outcome.strategy,
        "objective": outcome.objective,
        "mode": outcome.mode,
        "evaluated": outcome.evaluated,
        "bars": outcome.bars,
        "elapsed_s": outcome.elapsed_s,
        "fill": outcome.fill.model_dump(),
        "params": outcome.params,
        "in_sample": outcome.in_sample,
        "out_of_sample": outcome.out_of_sample,
        "used_default": outcome.used_default,
        "train_bars": outcome.train_bars,
        "test_bars": outcome.test_bars,
        "folds": [asdict(f) for f in outcome.folds],
        "top": [asdict(r) for r in outcome.top],
    }


def _score_cells(scores: Any, key: str, full: bool) -> list[str]:
    """Objective, return %, (max drawdown %,) trades: the columns of the optimize tables."""
    if scores is None:
        return ["-"] * (4 if full else 3)
    cells = [_fmt(scores[key], 3), _fmt(scores["total_return_pct"], 1)]
    if full:
        cells.append(_fmt(scores["max_drawdown_pct"], 1))
    return [*cells, _fmt(scores["n_trades"])]


def _score_heads(prefix: str, objective: str, full: bool) -> list[str]:
    return [f"{prefix} {h}" for h in (objective, "ret %", *(["dd %"] if full else []), "trades")]


def print_optimize(loaded: Loaded, outcome: OptimizationOutcome, wall_s: float) -> None:
    from tradebot.strategy import OBJECTIVES

    key = OBJECTIVES[outcome.objective]
    walk = len(outcome.folds) > 1
    if loaded.synthetic:
        wide_out.print(SYNTHETIC_NOTE)
    wide_out.print(
        f"[bold]{outcome.strategy}[/bold] on {loaded.symbol} ({loaded.source}): "
        f"{outcome.evaluated:,} parameter sets x {outcome.bars:,} bars, objective {outcome.objective}, "
        f"{outcome.mode}{f' ({len(outcome.folds)} folds)' if walk else ''}; "
        f"scored in {outcome.elapsed_s:.3f} s ({wall_s:.2f} s with loading)"
    )
    wide_out.print(f"fill model: {outcome.fill.describe()}")
    obj = outcome.objective
    if walk:
        folds = Table(
            title="Walk-forward folds: in-sample winner and its out-of-sample scores", box=box.SIMPLE_HEAD
        )
        for col in (
            "fold",
            "test window",
            "params",
            *_score_heads("IS", obj, False),
            *_score_heads("OOS", obj, True),
        ):
            folds.add_column(col, justify="right", no_wrap=col in ("test window", "params"))
        for k, f in enumerate(outcome.folds, 1):
            folds.add_row(
                str(k),
                f"{f.test_start}..{f.test_end}",
                _params_text(f.params) + (" (default)" if f.used_default else ""),
                *_score_cells(f.in_sample, key, False),
                *_score_cells(f.out_of_sample, key, True),
            )
        wide_out.print(folds)
        title = "Candidates (fold winners) by robustness: median objective on their later test windows"
    else:
        title = f"Top {len(outcome.top)} parameter sets in sample (out of sample for information)"
    ranked = Table(title=title, box=box.SIMPLE_HEAD)
    for col in ("#", "params", *(["robust", "windows"] if walk else [])):
        ranked.add_column(col, justify="right", no_wrap=col == "params")
    for col in (*_score_heads("IS", obj, False), *_score_heads("OOS", obj, True)):
        ranked.add_column(col, justify="right")
    for i, r in enumerate(outcome.top, 1):
        extra = [_fmt(r.robustness, 3), str(r.test_windows)] if walk else []
        ranked.add_row(
            str(i),
            _params_text(r.params),
            *extra,
            *_score_cells(r.in_sample, key, False),
            *_score_cells(r.out_of_sample, key, True),
        )
    wide_out.print(ranked)
    chosen = Table(show_header=False, box=None)
    chosen.add_column(style="bold")
    chosen.add_column()
    note = " (defaults: no set had enough trades)" if outcome.used_default else ""
    chosen.add_row("Chosen", _params_text(outcome.params) + note)
    chosen.add_row(
        f"In sample ({outcome.train_bars} bars to {outcome.train_end})",
        "  ".join(_labelled(outcome.in_sample, key)),
    )
    if outcome.out_of_sample is not None:
        chosen.add_row(
            f"Out of sample ({outcome.test_bars} bars)", "  ".join(_labelled(outcome.out_of_sample, key))
        )
    else:
        chosen.add_row("Out of sample", "none (too few bars for a test window)")
    wide_out.print(chosen)


def _labelled(scores: Any, key: str) -> list[str]:
    names = (key, "sharpe", "total_return_pct", "max_drawdown_pct", "n_trades")
    return [f"{n}={_fmt(scores[n], 3)}" for n in dict.fromkeys(names)]
