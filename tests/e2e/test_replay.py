"""Issue 12: the production path (the real state machine in the emulator, the queue, the executor, the
ledger) and `tradebot simulate` (the pipeline's step code in-process) do the same thing, order for order,
over a period that crosses re-optimizations, a split and a daily-loss halt; a replay is resumable; the
CLI's report, --json and --check.

The data is SYNTHETIC (tests/pit_source.py: five generated uptrends, a 4:1 split restated point-in-time
as Yahoo does, a 30% crash), served to both paths by one point-in-time source.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

import tradebot.pipeline.optimize as optimize_step
from tests.pit_source import (
    CRASH_SESSION,
    SCENARIO_END,
    SCENARIO_START,
    SPEC,
    SPLIT_EX_DATE,
    SPLIT_SYMBOL,
    PointInTimeSource,
    install,
    replay_scenario,
)
from tradebot.calendar import get_calendar
from tradebot_local.cli import app
from tradebot_local.history import first_difference
from tradebot_local.replay import ReplayRequest, replay
from tradebot_local.simulate import SimulationRequest, simulate_range

pytestmark = pytest.mark.e2e
runner = CliRunner()
STRATEGY = "ts_momentum"  # long the uptrends: the account is fully invested when the crash comes


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> PointInTimeSource:
    source = replay_scenario()
    install(monkeypatch, source)
    return source


@pytest.fixture
def walk_forwards(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The last bar of every walk-forward optimization either path runs (both call the step's rules)."""
    calls: list[date] = []
    real = optimize_step.optimize

    def counting(bars: Any, strategy: str, **kwargs: Any) -> Any:
        calls.append(bars.index[-1].date())
        return real(bars, strategy, **kwargs)

    monkeypatch.setattr(optimize_step, "optimize", counting)
    return calls


def test_replay_and_simulate_agree_order_for_order_across_reoptimizations_a_split_and_a_halt(
    scenario: PointInTimeSource, walk_forwards: list[date]
) -> None:
    args = (SPEC, None, SCENARIO_START, SCENARIO_END, STRATEGY)
    simulated = simulate_range(SimulationRequest(*args))
    simulated_cadence = sorted(set(walk_forwards))
    walk_forwards.clear()
    replayed = replay(ReplayRequest(*args))
    replayed_cadence = sorted(set(walk_forwards))

    assert first_difference(simulated, replayed) is None
    assert [(o.order_id, o.side, o.quantity, o.status) for o in simulated.orders] == [
        (o.order_id, o.side, o.quantity, o.status) for o in replayed.orders
    ]
    assert [(f.order_id, f.session, f.quantity) for f in simulated.fills] == [
        (f.order_id, f.session, f.quantity) for f in replayed.fills
    ]
    for a, b in zip(simulated.sessions, replayed.sessions, strict=True):
        assert (a.date, a.status) == (b.date, b.status)
        assert a.cash == pytest.approx(b.cash, abs=0.005) and a.equity == pytest.approx(b.equity, abs=0.005)

    # what the period had to cross
    sessions = get_calendar().sessions(SCENARIO_START, SCENARIO_END)
    assert len(replayed.sessions) == len(sessions) >= 60
    assert len({f.symbol for f in replayed.fills}) == 5 and len(replayed.fills) >= 50
    assert simulated_cadence == replayed_cadence and len(replayed_cadence) >= 5  # re-optimized weekly
    [split] = replayed.splits
    assert (split.symbol, split.ex_date, split.ratio) == (SPLIT_SYMBOL, SPLIT_EX_DATE, "4:1")
    assert split.shares_before > 0 and split.shares_after == 4 * split.shares_before
    decided = [s for s in replayed.sessions if s.date < CRASH_SESSION]
    halted = [s for s in replayed.sessions if s.date >= CRASH_SESSION]
    assert all(s.status == "DECIDED" for s in decided)
    assert halted[0].status == "FAILED" and halted[0].note.startswith("daily loss limit: equity fell")
    assert all(s.status == "FAILED" and "halted since" in s.note for s in halted[1:])
    # never booked as a loss: the equity is continuous across the ex-date
    by_day = {s.date: s.equity for s in replayed.sessions}
    ex = SPLIT_EX_DATE
    assert by_day[ex] == pytest.approx(by_day[get_calendar().previous_session(ex)], rel=0.03)


class Interrupted(Exception):
    pass


def test_an_interrupted_replay_goes_on_after_the_last_saved_session(
    scenario: PointInTimeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradebot_local.replay as module

    monkeypatch.setattr(module, "SAVE_EVERY", 2)
    request = ReplayRequest(SPEC, None, date(2024, 2, 12), date(2024, 2, 22), STRATEGY)  # the split's week
    sessions = get_calendar().sessions(request.start, request.end)
    crash_in = sessions[4]
    started: list[date] = []
    real_start, real_executor = module.start_and_wait, module.build_executor

    def start(dep: Any, pipeline_request: Any, run: str, timeout_s: float) -> Any:
        started.append(pipeline_request.as_of)
        return real_start(dep, pipeline_request, run, timeout_s)

    def executor(source: Any, clock: Any) -> Any:
        if started[-1] == crash_in and started.count(crash_in) == 1:
            raise Interrupted  # after the session's run, before its fills
        return real_executor(source, clock)

    monkeypatch.setattr(module, "start_and_wait", start)
    monkeypatch.setattr(module, "build_executor", executor)
    with pytest.raises(Interrupted) as stopped:
        replay(request)
    assert stopped.value.__notes__ == [
        f"replay interrupted during {crash_in}: 4 of {len(sessions)} sessions saved; "
        "run the same command again to go on from there"
    ]
    assert started == sessions[:5]
    resumed = replay(request)

    assert started == sessions[:5] + sessions[4:]  # the interrupted session again, nothing saved before it
    simulated = simulate_range(SimulationRequest(SPEC, None, request.start, request.end, STRATEGY))
    assert first_difference(simulated, resumed) is None
    assert len({o.order_id for o in resumed.orders}) == len(resumed.orders) > 0
    # a third call with the same arguments runs nothing and reports the same history
    again = replay(request)
    assert started == sessions[:5] + sessions[4:]
    assert again.to_json() == resumed.to_json()


def test_a_replay_interrupted_between_two_fills_of_a_session_keeps_none_of_them(
    scenario: PointInTimeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut short inside the executor's drain (one order filled, the next not), the session's partial state
    is not saved: the restarted replay runs it again from the state it started from, and agrees with
    research at every close (it once recorded the close with the next session's fills in its cash)."""
    import tradebot_local.replay as module

    monkeypatch.setattr(module, "SAVE_EVERY", 1)
    request = ReplayRequest(SPEC, None, date(2024, 2, 12), date(2024, 2, 22), STRATEGY)
    sessions = get_calendar().sessions(request.start, request.end)
    real_executor = module.build_executor
    cut: list[date] = []

    def executor(source: Any, clock: Any) -> Any:
        service = real_executor(source, clock)
        process = service._executor.process
        session = get_calendar().previous_session(clock.now().date())
        processed: list[Any] = []

        def process_then_stop(order: Any, report: Any) -> None:
            if processed and not cut:  # the session's second order: its first is filled
                cut.append(session)
                raise KeyboardInterrupt
            processed.append(order)
            process(order, report)

        service._executor.process = process_then_stop
        return service

    monkeypatch.setattr(module, "build_executor", executor)
    with pytest.raises(module.ReplayInterrupted) as stopped:
        replay(request)
    assert cut and stopped.value.in_session == cut[0]
    assert stopped.value.saved == sessions.index(cut[0])  # every session before it, none of it
    monkeypatch.setattr(module, "build_executor", real_executor)
    resumed = replay(request)

    simulated = simulate_range(SimulationRequest(SPEC, None, request.start, request.end, STRATEGY))
    assert first_difference(simulated, resumed) is None
    assert {f.order_id for f in resumed.fills} == {o.order_id for o in resumed.orders if o.status == "FILLED"}


def test_cli_replay_check_json_and_the_report(scenario: PointInTimeSource) -> None:
    args = ["--source", SPEC, "--from", "2024-02-13", "--to", "2024-02-20", "--strategy", STRATEGY]
    result = runner.invoke(app, ["replay", *args, "--check", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["identical"] is True and out["first_difference"] is None
    replayed = out["replay"]
    assert replayed["sessions"] == 5 and replayed["synthetic"] is True
    stats = {"final_equity", "total_return_pct", "sharpe", "max_drawdown_pct", "n_trades"}
    assert set(replayed["stats"]) >= stats
    fill = replayed["fills"][0]
    assert set(fill) >= {"order_id", "as_of", "session", "symbol", "side", "quantity", "price", "commission"}
    assert set(replayed["equity"][0]) >= {"date", "equity", "cash"}
    assert replayed["splits"][0]["symbol"] == SPLIT_SYMBOL
    assert out["simulate"]["fills"] == replayed["fills"]

    # the same replay again is resumed (nothing to run) and prints the table; simulate prints the same
    table = runner.invoke(app, ["replay", *args])
    assert table.exit_code == 0, table.output
    assert "Equity Final [$]" in table.stdout and "split applied: S0 4:1" in table.stdout
    assert "SYNTHETIC" in table.stdout
    simulated = runner.invoke(app, ["simulate", *args, "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.stdout) == replayed


def test_cli_replay_check_names_the_first_difference_and_exits_1(
    scenario: PointInTimeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradebot_local.simulate as module

    real = module.simulate_range

    def off_by_a_tick(request: SimulationRequest, **kwargs: Any) -> Any:
        history = real(request, **kwargs)
        fill = history.fills[1]
        history.fills[1] = replace(fill, price=fill.price * (1 + 1e-6))
        return history

    monkeypatch.setattr(module, "simulate_range", off_by_a_tick)
    args = ["--source", SPEC, "--from", "2024-02-13", "--to", "2024-02-15", "--strategy", STRATEGY]
    result = runner.invoke(app, ["replay", *args, "--check"])
    assert result.exit_code == 1, result.output
    assert "first difference" in result.stdout and "fill of order" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-02-20", "--to", "2024-02-13"], "is before --from"),
        (["--from", "2024-02-17", "--to", "2024-02-19"], "no NYSE session"),  # a weekend and a holiday
        (["--from", "2024-02-13", "--to", "2099-01-02"], "outside the trading calendar"),
        (["--from", "2024-02-13", "--to", f"{date.today().year + 1}-06-01"], "has not closed yet"),
        (["--from", "2024-02-13"], "--from and --to"),
        (["--from", "2024-02-13", "--to", "2024-02-14", "--strategy", "nope"], "valid:"),
    ],
)
def test_bad_ranges_are_refused_before_anything_runs(
    scenario: PointInTimeSource, args: list[str], message: str
) -> None:
    for command in ("simulate", "replay"):
        result = runner.invoke(app, [command, "--source", SPEC, *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
