"""`tradebot simulate` against `tradebot replay` on the same sessions: sessions per second, the ratio, whether
they agree order for order, and where each one's time goes.

For each universe size (default 5 and 50 symbols) over ``--sessions`` NYSE sessions (default 250, ending
``--end``): a temporary directory of Yahoo-format CSVs of generated bars (SYNTHETIC, with two years of
history before the first session for the walk-forward), then, on the same input in this one process:

* ``simulate``: the pipeline's step code in-process (tradebot_local.simulate), timed; then again with each
  part timed (fetch and the quality gate, the run-bars round trip, walk-forward optimization, signals,
  PaperTrade's decision, the executor, the account at the close), and the moto DynamoDB calls inside them.
* ``replay``: the real state machine in the emulator, one execution per session, the executor draining
  the queue, the account saved every 10 sessions (tradebot_local.replay), on a fresh account, timed;
  with each Lambda handler's time (the emulator's dispatcher), the executor's drain, the account file's
  save, and the rest (the emulated Step Functions, S3 and SQS, the state machine's own work).
* ``first_difference`` of the two histories (None: they agree).

Goals (issue 12): a replay of 250 sessions of 5 symbols in under 5 minutes on a 2-core machine; simulate
at least 20x faster than replay.

    .venv/bin/python bench/replay.py                            # 5 and 50 symbols x 250 sessions (~25 min)
    .venv/bin/python bench/replay.py --symbols 5 --sessions 60 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

import tradebot_local.replay as replay_module
import tradebot_local.simulate as simulate_module
from tradebot.calendar import get_calendar
from tradebot_local.emulator import LambdaDispatcher
from tradebot_local.history import AccountHistory, first_difference
from tradebot_local.universe import write_synthetic_universe

HISTORY_DAYS = 800  # calendar days of bars before the first session (the fetch step's lookback is 730)


@dataclass
class Timings:
    """Seconds per part (a part's time includes the moto calls made inside it)."""

    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, part: str, seconds: float) -> None:
        self.parts[part] += seconds


@contextmanager
def patched(obj: Any, name: str, wrap: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, wrap(original))
    try:
        yield
    finally:
        setattr(obj, name, original)


def timer(timings: Timings, part: str) -> Callable[[Any], Any]:
    def wrap(fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timings.add(part, time.perf_counter() - started)

        return timed

    return wrap


def aws_timer(timings: Timings) -> Callable[[Any], Any]:
    """Time every SDK call, by service (moto answers them in-process)."""

    def wrap(fn: Any) -> Any:
        def timed(self: Any, operation: str, params: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(self, operation, params)
            finally:
                service = self.meta.service_model.service_name
                timings.add(f"aws:{service}", time.perf_counter() - started)

        return timed

    return wrap


def simulate_parts(request: Any) -> tuple[AccountHistory, Timings]:
    """One simulate with each part of a session timed."""
    t = Timings()
    m = simulate_module
    with (
        patched(m, "fetch_bars", timer(t, "fetch + quality gate")),
        patched(m, "encode_run_bars", timer(t, "run-bars round trip")),
        patched(m, "decode_run_bars", timer(t, "run-bars round trip")),
        patched(m, "optimized", timer(t, "walk-forward optimization")),
        patched(m, "signal_for", timer(t, "signals")),
        patched(m, "place_orders", timer(t, "PaperTrade decision")),
        patched(m.OrderExecutor, "process", timer(t, "executor")),
        patched(m.OrderExecutor, "fill_pending", timer(t, "executor")),
        patched(m, "account_at_close", timer(t, "account at the close")),
        patched(BaseClient, "_make_api_call", aws_timer(t)),
    ):
        history = m.simulate_range(request)
    return history, t


def replay_parts(request: Any) -> tuple[AccountHistory, float, Timings]:
    """One replay on a fresh account, timed, with its parts."""
    t = Timings()
    dispatcher = LambdaDispatcher()
    m = replay_module

    def drain_timer(build: Any) -> Any:
        def build_timed(*args: Any, **kwargs: Any) -> Any:
            service = build(*args, **kwargs)
            service.drain = timer(t, "executor drain")(service.drain)
            return service

        return build_timed

    started = time.perf_counter()
    with (
        patched(m, "start_and_wait", timer(t, "state machine execution")),
        patched(m, "build_executor", drain_timer),
        patched(m.AccountFile, "save", timer(t, "account file save")),
        patched(m, "account_at_close", timer(t, "account at the close")),
    ):
        history = m.replay(request, fresh=True, dispatcher=dispatcher)
    seconds = time.perf_counter() - started
    for invocation in dispatcher.invocations:
        t.add(f"lambda:{invocation.function.removesuffix('Function')}", invocation.seconds)
    return history, seconds, t


def measure(n: int, sessions: list[date], workdir: Path) -> dict[str, Any]:
    first, last = sessions[0], sessions[-1]
    directory = workdir / f"universe-{n}"
    bars_end = get_calendar().next_session(last) + timedelta(days=10)
    symbols = write_synthetic_universe(directory, n, first - timedelta(days=HISTORY_DAYS), bars_end)
    source = f"csv:{directory}"
    os.environ["TRADEBOT_STATE_DIR"] = str(workdir / f"state-{n}")
    args = (source, tuple(symbols), first, last, None)

    started = time.perf_counter()
    simulated = simulate_module.simulate_range(simulate_module.SimulationRequest(*args))
    simulate_s = time.perf_counter() - started
    _, simulate_t = simulate_parts(simulate_module.SimulationRequest(*args))
    replayed, replay_s, replay_t = replay_parts(replay_module.ReplayRequest(*args))
    difference = first_difference(simulated, replayed)

    handlers = sum(v for k, v in replay_t.parts.items() if k.startswith("lambda:"))
    execution = replay_t.parts.pop("state machine execution", 0.0)
    replay_t.add("emulated Step Functions, S3, SQS (an execution minus its handlers)", execution - handlers)
    return {
        "symbols": n,
        "sessions": len(sessions),
        "orders": len(replayed.orders),
        "fills": len(replayed.fills),
        "identical": difference is None,
        "first_difference": None if difference is None else str(difference),
        "simulate_s": simulate_s,
        "replay_s": replay_s,
        "simulate_sessions_per_s": len(sessions) / simulate_s,
        "replay_sessions_per_s": len(sessions) / replay_s,
        "ratio": replay_s / simulate_s,
        "simulate_parts_s": dict(simulate_t.parts),
        "replay_parts_s": dict(replay_t.parts),
    }


def print_result(r: dict[str, Any]) -> None:
    print(
        f"\n{r['symbols']} symbols x {r['sessions']} sessions: {r['orders']} orders, {r['fills']} fills; "
        f"replay and simulate {'AGREE' if r['identical'] else 'DIFFER: ' + str(r['first_difference'])}"
    )
    print(f"  {'':<10}{'wall s':>9}{'sessions/s':>12}{'ms/session':>12}")
    for what in ("simulate", "replay"):
        s = r[f"{what}_s"]
        print(f"  {what:<10}{s:>9.1f}{r[f'{what}_sessions_per_s']:>12.2f}{1000 * s / r['sessions']:>12.0f}")
    print(f"  replay / simulate: {r['ratio']:.1f}x")
    for what in ("simulate", "replay"):
        parts = r[f"{what}_parts_s"]
        total = r[f"{what}_s"]
        print(f"  where {what}'s time goes (s; a part includes the AWS calls inside it):")
        for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"    {part:<58}{seconds:>8.2f}  {100 * seconds / total:>5.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", default="5,50", help="universe sizes, comma-separated")
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 5, 30), help="last session")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    calendar = get_calendar()
    end = args.end if calendar.is_session(args.end) else calendar.previous_session(args.end)
    sessions = calendar.sessions(end - timedelta(days=2 * args.sessions), end)[-args.sessions :]
    results = []
    print(
        f"bench/replay.py: {args.sessions} sessions {sessions[0]}..{sessions[-1]}, SYNTHETIC data, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        for n in (int(x) for x in args.symbols.split(",")):
            result = measure(n, sessions, Path(tmp))
            results.append(result)
            if not args.json:
                print_result(result)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
