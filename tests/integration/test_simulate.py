"""`tradebot simulate` reads no bar after the session it decides on (no look-ahead), and re-optimizes on the
deployed cadence (PARAMS_MAX_AGE_DAYS) per strategy. SYNTHETIC data (tests/pit_source.py)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tradebot.pipeline.optimize as optimize_step
from tests.pit_source import SPEC, PointInTimeSource, install, replay_scenario
from tradebot.calendar import get_calendar
from tradebot_local.history import AccountHistory
from tradebot_local.simulate import SimulationRequest, TemplateDefaults, simulate_range

START, END = date(2024, 1, 29), date(2024, 3, 8)  # crosses the scenario's split (2024-02-15)
CUT = date(2024, 2, 21)  # bars from this session on are perturbed


def perturbed_from(source: PointInTimeSource, cut: date, seed: int = 7) -> PointInTimeSource:
    """``source`` with every bar on or after ``cut`` scaled by its own random factor in [0.85, 1.15]
    (OHLC together: still consistent bars)."""
    rng = np.random.default_rng(seed)
    frames = {}
    for symbol, frame in source.frames.items():
        out = frame.copy()
        later = out.index >= pd.Timestamp(cut)
        factors = rng.uniform(0.85, 1.15, int(later.sum()))
        for column in ("Open", "High", "Low", "Close", "Adj Close"):
            out.loc[later, column] = np.round(out.loc[later, column].to_numpy() * factors, 2)
        frames[symbol] = out
    return PointInTimeSource(frames, splits=dict(source.splits))


def before(history: AccountHistory, cut: date) -> dict[str, Any]:
    """Everything the history knew before ``cut``: the sessions' rows, the orders decided and the fills
    made before it."""
    return {
        "sessions": [s for s in history.sessions if s.date < cut],
        "orders": [(o.order_id, o.side, o.quantity) for o in history.orders if o.as_of < cut],
        "fills": [f for f in history.fills if f.session < cut],
        "splits": [s for s in history.splits if s.ex_date < cut],
    }


def simulate_on(source: PointInTimeSource, monkeypatch: pytest.MonkeyPatch) -> AccountHistory:
    install(monkeypatch, source)
    return simulate_range(SimulationRequest(SPEC, None, START, END, "ts_momentum"))


def test_simulate_never_reads_a_bar_after_the_session_it_decides_on(monkeypatch: pytest.MonkeyPatch) -> None:
    source = replay_scenario()
    original = simulate_on(source, monkeypatch)
    changed = simulate_on(perturbed_from(source, CUT), monkeypatch)

    assert before(changed, CUT) == before(original, CUT)
    assert len(before(original, CUT)["fills"]) > 10 and before(original, CUT)["splits"]
    # the perturbation matters from the cut on (else this test could not fail)
    after_a = [(s.date, round(s.equity, 2)) for s in original.sessions if s.date >= CUT]
    after_b = [(s.date, round(s.equity, 2)) for s in changed.sessions if s.date >= CUT]
    assert after_a != after_b


def test_a_perturbation_one_session_earlier_does_change_the_decision_before_the_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the comparison above sees a change of the last session before the cut."""
    source = replay_scenario()
    original = simulate_on(source, monkeypatch)
    earlier = get_calendar().previous_session(CUT)
    changed = simulate_on(perturbed_from(source, earlier), monkeypatch)
    assert before(changed, CUT) != before(original, CUT)


def test_parameters_are_reoptimized_on_the_deployed_cadence(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, replay_scenario())
    calls: list[tuple[str, date]] = []
    real = optimize_step.optimize

    def counting(bars: Any, strategy: str, **kwargs: Any) -> Any:
        calls.append((strategy, bars.index[-1].date()))
        return real(bars, strategy, **kwargs)

    monkeypatch.setattr(optimize_step, "optimize", counting)
    simulate_range(SimulationRequest(SPEC, ("S1",), date(2024, 1, 2), date(2024, 2, 9), "ts_momentum"))
    days = [d for _, d in calls]
    max_age = TemplateDefaults.read().params_max_age_days
    assert {s for s, _ in calls} == {"ts_momentum"}
    assert days[0] == date(2024, 1, 2)
    gaps = [(b - a).days for a, b in pairwise(days)]
    # reused while at most max_age days old, re-optimized at the first session after that
    assert gaps and all(max_age < gap <= max_age + 4 for gap in gaps)
