"""`tradebot portfolio|orders|kill-switch|reset`: the paper account commands (issue: orders and execution)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from tradebot_local.cli.common import err, fail, fail_error, out, parse_date, print_json

STATUSES = ("NEW", "ACCEPTED", "FILLED", "CANCELLED", "REJECTED")


class Switch(StrEnum):
    on = "on"
    off = "off"


def register(app: typer.Typer) -> None:
    """Add the paper-account commands to the `tradebot` app.

    Every command works on the account `tradebot run` persists (tradebot_local.account_file): restored into
    the emulator's tables, read or changed with the same stores the Lambdas and the executor use, saved back.
    """
    app.command()(portfolio)
    app.command()(orders)
    app.command(name="kill-switch")(kill_switch)
    app.command()(reset)


def account_summary() -> dict[str, Any]:
    """Cash, positions (marked at the latest decision's closes), pending orders, kill switch, halt, stopped
    symbols and the splits applied to the account."""
    from tradebot.pipeline.trade import pending_orders
    from tradebot.store.accounts import AccountStore
    from tradebot.store.ledger import OrderLedger
    from tradebot.store.trading_config import ConfigStore
    from tradebot.trading.corporate_actions import recorded_factor
    from tradebot_local.account_file import AccountFile, local_tables

    account = AccountFile.default()
    with local_tables(account, save=False) as local:
        config = ConfigStore(local.tables["ConfigTable"], local.ddb).load()
        store = AccountStore(local.tables["StateTable"], local.ddb)
        initial = config.risk.initial_capital
        portfolio = store.load(local.account_id, initial)
        latest = store.latest_decision(local.account_id)
        halt = store.halt(local.account_id)
        stopped = store.symbol_halts(local.account_id)
        splits = store.splits(local.account_id)
        pending = pending_orders(OrderLedger(local.tables["LedgerTable"], local.ddb), local.account_id)
    # the latest decision's closes (in today's units: a split applied since, e.g. by the executor, divides
    # them); held symbols it had none for (stopped, withheld) at their marks
    closes = {}
    if latest is not None:
        closes = {
            s: c / float(recorded_factor(splits, s, latest.as_of, date.max))
            for s, c in {**latest.marks, **latest.closes}.items()
        }
    positions = [
        {
            "symbol": p.symbol,
            "quantity": p.quantity,
            "avg_price": round(p.avg_price, 4),
            "last_close": closes.get(p.symbol),
            "market_value": round(p.quantity * closes.get(p.symbol, p.avg_price), 2),
        }
        for p in sorted(portfolio.positions.values(), key=lambda p: p.symbol)
    ]
    equity = portfolio.equity(closes)
    return {
        "account": portfolio.account,
        "file": str(account.path),
        "persisted": account.exists(),
        "initial_capital": initial,
        "cash": round(portfolio.cash, 2),
        "positions": positions,
        "equity": round(equity, 2),
        "pnl": round(equity - initial, 2),
        "marked_at": str(latest.as_of) if latest else None,
        "last_decision": {"as_of": str(latest.as_of), "run_id": latest.run_id} if latest else None,
        "pending_orders": [o.order_id for o in pending],
        "kill_switch": {"on": config.kill_switch, "reason": config.kill_switch_reason},
        "halt": halt.model_dump(mode="json") if halt else None,
        "stopped_symbols": [h.model_dump(mode="json") for h in stopped.values()],
        "corporate_actions": [r.summary() for r in splits],
    }


def portfolio(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The local paper account: cash, positions, equity, pending orders, kill switch and halt."""
    from tradebot.errors import TradebotError

    try:
        summary = account_summary()
    except TradebotError as exc:
        raise fail_error(exc) from None
    if as_json:
        print_json(summary)
        return
    table = Table(
        title=f"Paper account {summary['account']} (marked at {summary['marked_at'] or 'cost'})",
        title_justify="left",
        title_style="bold",
    )
    for col in ("symbol", "qty", "avg price", "last close", "value"):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    for p in summary["positions"]:
        close = "" if p["last_close"] is None else f"{p['last_close']:.2f}"
        table.add_row(
            p["symbol"], str(p["quantity"]), f"{p['avg_price']:.4f}", close, f"{p['market_value']:,.2f}"
        )
    out.print(table if summary["positions"] else "No positions.")
    out.print(
        f"cash {summary['cash']:,.2f}   equity {summary['equity']:,.2f}   "
        f"P&L {summary['pnl']:+,.2f} on {summary['initial_capital']:,.2f}"
    )
    decided = summary["last_decision"]
    out.print(f"last decision: {decided['as_of']} ({decided['run_id']})" if decided else "no decision yet")
    if summary["pending_orders"]:
        out.print(f"pending orders: {len(summary['pending_orders'])} (tradebot orders --status ACCEPTED)")
    if summary["kill_switch"]["on"]:
        out.print(f"[red]kill switch ON[/red]: {summary['kill_switch']['reason'] or 'no reason given'}")
    if summary["halt"]:
        out.print(f"[red]trading HALTED[/red] since {summary['halt']['as_of']}: {summary['halt']['reason']}")
    for h in summary["stopped_symbols"]:
        out.print(f"[red]{h['symbol']} STOPPED[/red] since {h['as_of']}: {h['reason']}")
    from tradebot_local.report import print_corporate_actions

    print_corporate_actions(summary["corporate_actions"], out, "Corporate actions (splits applied)")
    err.print(f"[dim]{summary['file']}{'' if summary['persisted'] else ' (not created yet)'}[/dim]")


def list_orders(as_of: date | None, status: str | None) -> list[dict[str, Any]]:
    from tradebot.store.ledger import OrderLedger
    from tradebot_local.account_file import AccountFile, local_tables

    with local_tables(AccountFile.default(), save=False) as local:
        entries = OrderLedger(local.tables["LedgerTable"], local.ddb).list_orders(as_of=as_of)
    rows = []
    for e in entries:
        if status is not None and e.status != status:
            continue
        o = e.order
        rows.append(
            {
                "as_of": str(o.as_of),
                "order_id": o.order_id,
                "run_id": o.run_id,
                "symbol": o.symbol,
                "side": o.side,
                "quantity": o.quantity,
                "order_type": o.order_type,
                "limit_price": o.limit_price,
                "status": e.status,
                "reason": e.reason,
                "adjusted": [a.model_dump(mode="json") for a in e.amendments],
                "fill": e.fill.model_dump(mode="json") if e.fill else None,
                "updated_at": e.updated_at.isoformat(),
            }
        )
    return rows


def orders(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="only this decision session (YYYY-MM-DD)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="only this status: " + " | ".join(STATUSES))] = None,
) -> None:
    """Every order of the local paper account, with its status and the reason (rejected, cancelled)."""
    from tradebot.errors import TradebotError

    session = parse_date(as_of, "--as-of")
    if status is not None and status.upper() not in STATUSES:
        raise fail(f"[red]--status[/red]: {status!r} is not one of {', '.join(STATUSES)}")
    try:
        rows = list_orders(session, status.upper() if status else None)
    except TradebotError as exc:
        raise fail_error(exc) from None
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No orders.")
        return
    table = Table(title="Orders", title_justify="left", title_style="bold")
    for col in ("as-of", "order_id", "symbol", "side", "qty", "type", "status", "fill", "reason"):
        table.add_column(col, justify="right" if col == "qty" else "left")
    for r in rows:
        kind = r["order_type"] if r["limit_price"] is None else f"LIMIT {r['limit_price']:g}"
        fill = "" if r["fill"] is None else f"{r['fill']['price']:.4f} on {r['fill']['session']}"
        notes = [r["reason"]] if r["reason"] else []
        notes += [
            f"adjusted for the {a['ratio']} split of {a['ex_date']} (was {a['quantity_before']} shares)"
            for a in r["adjusted"]
        ]
        reason = "; ".join(notes)
        table.add_row(
            r["as_of"],
            r["order_id"],
            r["symbol"],
            r["side"],
            str(r["quantity"]),
            kind,
            r["status"],
            fill,
            reason,
        )
    out.print(table)


def kill_switch(
    state: Annotated[
        Switch,
        typer.Argument(help="on: reject every order; off: trade again (lifts a halt and stopped symbols)"),
    ],
    reason: Annotated[str, typer.Option(help="why (shown with every rejected order)")] = "",
) -> None:
    """Engage or release the local paper account's kill switch (PaperTrade and the executor honour it)."""
    from tradebot.errors import TradebotError
    from tradebot.store.accounts import AccountStore
    from tradebot.store.trading_config import ConfigStore
    from tradebot_local.account_file import AccountFile, local_tables

    try:
        with local_tables(AccountFile.default(), save=True) as local:
            config = ConfigStore(local.tables["ConfigTable"], local.ddb).set_kill_switch(
                state is Switch.on, reason or ("set by tradebot kill-switch" if state is Switch.on else "")
            )
            lifted = None
            symbols = []
            if state is Switch.off:
                store = AccountStore(local.tables["StateTable"], local.ddb)
                lifted = store.clear_halt(local.account_id)
                symbols = store.clear_symbol_halts(local.account_id)
    except TradebotError as exc:
        raise fail_error(exc) from None
    if config.kill_switch:
        out.print(f"kill switch [red]ON[/red]: {config.kill_switch_reason}")
    else:
        out.print("kill switch [green]off[/green]")
    if lifted is not None:
        out.print(f"halt lifted (since {lifted.as_of}: {lifted.reason})")
    for h in symbols:
        out.print(f"{h.symbol} trades again (stopped since {h.as_of}: {h.reason})")


def reset(
    everything: Annotated[
        bool, typer.Option("--all", help="also forget the trading config (kill switch)")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Forget the local paper account: cash back to the initial capital, no positions, no orders."""
    from tradebot_local.account_file import AccountFile

    account = AccountFile.default()
    what = "the local paper account and its trading config" if everything else "the local paper account"
    if not yes and not typer.confirm(f"Forget {what} ({account.path})?"):
        raise typer.Exit(1)
    with account.locked():
        forgotten = account.reset(keep_config=not everything)
    out.print(f"{'Reset' if forgotten else 'Nothing to reset:'} {account.path}")
