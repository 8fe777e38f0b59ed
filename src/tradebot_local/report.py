"""The human-readable summary of a local run (the same data as `tradebot run --json`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tradebot_local.cli.common import SYNTHETIC_NOTE

NUMERIC_COLUMNS = {
    "qty",
    "price",
    "avg price",
    "seconds",
    "weight",
    "close",
    "rank",
    "oos",
    "is",
    "shares",
    "cash in lieu",
    "orders",
}
LISTED = 20  # rows of a long table printed (all of them are in --json)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for col in columns:
        table.add_column(col, justify="right" if col in NUMERIC_COLUMNS else "left")
    return table


def print_report(r: dict[str, Any], out: Console) -> None:
    colour = "green" if r["status"] == "SUCCEEDED" else "red"
    synthetic = f" ({SYNTHETIC_NOTE})" if r.get("synthetic") else ""
    where = "".join(
        f"  {label} {r[key]}" for key, label in (("as_of", "as-of"), ("source", "source")) if r.get(key)
    )
    out.print(
        f"\n[bold]Execution[/bold] {r['execution_name']}: [{colour}]{r['status']}[/{colour}] "
        f"in {r['elapsed_s']:.2f} s{where}{synthetic}"
    )
    states = _table("States entered", "state", "seconds")
    for s in r["state_durations_s"]:
        states.add_row(s["name"], f"{s['seconds']:.3f}")
    out.print(states)
    if r["status"] != "SUCCEEDED":
        step = f" in {r['failed_state']}" if r.get("failed_state") else ""
        error = r.get("error_type") or r.get("error")
        out.print(f"[red]Failed{step}[/red]: {error}: {r.get('error_message')}")
    if r.get("market_open") is False:
        out.print(f"Market closed on {r.get('as_of')}: nothing to do.")
    if r.get("skipped"):
        skipped = _table("Skipped symbols", "symbol", "reason", "detail")
        for s in r["skipped"][:LISTED]:
            skipped.add_row(s["symbol"], s["reason"], s.get("detail", ""))
        out.print(skipped)
        if len(r["skipped"]) > LISTED:
            out.print(f"... {len(r['skipped']) - LISTED} more skipped (all in --json and the quality report)")
    _print_signals(r, out)
    print_corporate_actions(r.get("corporate_actions") or [], out, "Corporate actions applied by this run")
    _print_ranking(r, out)
    for note in r.get("decision_notes") or []:
        out.print(f"[dim]note[/dim] {note}")
    _print_orders(r, out)


def _print_signals(r: dict[str, Any], out: Console) -> None:
    signals = r.get("signals") or []
    if r.get("warnings"):
        warnings = _table(
            "Data warnings (symbols kept; see the quality report)", "symbol", "warning", "detail"
        )
        for w in r["warnings"][:LISTED]:
            warnings.add_row(w["symbol"], w["reason"], w.get("detail", ""))
        out.print(warnings)
        if len(r["warnings"]) > LISTED:
            out.print(
                f"... {len(r['warnings']) - LISTED} more warnings (all in --json and the quality report)"
            )
    if r.get("optimization_failed"):
        failed = _table("Optimization failed (no signal)", "symbol", "detail")
        for f in r["optimization_failed"][:LISTED]:
            failed.add_row(f["symbol"], f.get("detail", ""))
        out.print(failed)
    if r.get("withheld"):
        withheld = _table(
            "Signals withheld (not traded: the data warns of it)", "symbol", "warning", "detail"
        )
        for w in r["withheld"][:LISTED]:
            withheld.add_row(w["symbol"], w["reason"], w.get("detail", ""))
        out.print(withheld)
        if len(r["withheld"]) > LISTED:
            out.print(f"... {len(r['withheld']) - LISTED} more withheld (all in --json)")
    if not signals:
        return
    if len(signals) > LISTED:
        long = sum(1 for s in signals if s["target_weight"] > 0)
        out.print(f"Signals at the as-of close: {len(signals)} symbols, {long} long (all in --json).")
        return
    table = _table("Signals (decided at the as-of close)", "symbol", "weight", "close", "params", "reason")
    for s in signals:
        params = ", ".join(f"{k}={v:g}" for k, v in s["params"].items())
        table.add_row(s["symbol"], f"{s['target_weight']:.2f}", f"{s['close']:.2f}", params, s["reason"])
    out.print(table)


def _print_ranking(r: dict[str, Any], out: Console) -> None:
    ranking = r.get("ranking") or []
    if not ranking:
        return
    title = f"Candidates, ranked ({len(ranking)} wanted a position; held first, then out-of-sample score)"
    table = _table(title, "rank", "symbol", "held", "oos", "is", "qty", "outcome")
    for c in ranking[:LISTED]:
        outcome = c["reason"] or ("bought" if c["quantity"] else "held, at target" if c["held"] else "")
        table.add_row(
            str(c["rank"]),
            c["symbol"],
            "yes" if c["held"] else "",
            _score(c.get("out_of_sample_score")),
            _score(c.get("in_sample_score")),
            str(c["quantity"] or ""),
            outcome,
        )
    out.print(table)
    if len(ranking) > LISTED:
        out.print(f"... {len(ranking) - LISTED} more candidates (all in --json)")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_orders(r: dict[str, Any], out: Console) -> None:
    orders = _table("Orders", "order_id", "symbol", "side", "qty", "status")
    for o in r["orders"]:  # status as the ledger has it
        status = "ACCEPTED, awaiting the open" if o["status"] == "ACCEPTED" else o["status"]
        if o.get("status_reason"):
            status += f": {o['status_reason']}"
        for a in o.get("adjusted") or []:
            status += (
                f" (adjusted for the {a['ratio']} split of {a['ex_date']}: was {a['quantity_before']} shares)"
            )
        orders.add_row(o["order_id"], o["symbol"], o["side"], str(o["quantity"]), status)
    out.print(orders if r["orders"] else "No orders.")
    if r["fills"]:
        fills = _table("Fills (next session's open)", "order_id", "symbol", "side", "qty", "price", "session")
        for f in r["fills"]:
            fills.add_row(
                f["order_id"],
                f["symbol"],
                f["side"],
                str(f["quantity"]),
                f"{f['price']:.4f}",
                str(f["session"]),
            )
        out.print(fills)
    p = r.get("portfolio") or {}
    if p:
        pos = _table(
            f"Portfolio {p.get('account', '')} (marked at {p.get('marked_at') or 'cost: no close yet'})",
            "symbol",
            "qty",
            "avg price",
        )
        for sym, q in p.get("positions", {}).items():
            pos.add_row(sym, str(q["quantity"]), f"{q['avg_price']:.4f}")
        out.print(pos)
        out.print(f"cash {p['cash']:,.2f}   equity {p['equity']:,.2f}")


def print_corporate_actions(actions: list[dict[str, Any]], out: Console, title: str) -> None:
    """Splits applied to the account (tradebot.trading.account.SplitRecord.summary): a table."""
    if not actions:
        return
    table = _table(title, "symbol", "ex-date", "ratio", "shares", "avg price", "cash in lieu", "orders")
    for a in actions:
        orders = len(a.get("orders_adjusted", [])) + len(a.get("orders_cancelled", []))
        table.add_row(
            a["symbol"],
            a["ex_date"],
            a["ratio"],
            f"{a['shares_before']} -> {a['shares_after']}",
            f"{a['avg_price_before']:.2f} -> {a['avg_price_after']:.2f}",
            f"{a['cash_in_lieu']:.2f}",
            str(orders or ""),
        )
    out.print(table)
