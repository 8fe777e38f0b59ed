"""Each strategy declares its parameter constraints once, on its params class: the vectorized grid mask
(``Strategy.valid_mask``) and the per-set validation (``Strategy.parse_params``) both derive from it, so
they agree on every parameter set, including the ones at, just inside and just outside every bound."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from pydantic import Field, field_validator, model_validator

from tradebot.errors import InputValidationError
from tradebot.strategy import expand_grid, get_strategy, strategy_names
from tradebot.strategy.base import ParamTable, Strategy, StrategyParams, table_row, table_size

GENERIC = [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 7.25, 100.0, 1e9, 1e19, math.nan, math.inf, -math.inf]


def _bounds(strategy: Strategy[Any], name: str) -> list[float]:
    field = strategy.params_type.model_fields[name]
    return [float(getattr(m, a)) for m in field.metadata for a in ("ge", "gt", "le", "lt") if hasattr(m, a)]


def _edges(strategy: Strategy[Any], name: str) -> list[float]:
    """Generic values, the default, and every bound b with b +- 1, b +- 0.01 and b's float neighbours."""
    values = [*GENERIC, strategy.default_params.as_dict()[name]]
    for b in _bounds(strategy, name):
        values += [b + d for d in (-1, -0.01, 0, 0.01, 1)]
        values += [math.nextafter(b, -math.inf), math.nextafter(b, math.inf)]
    return values


def _edge_table(strategy: Strategy[Any]) -> ParamTable:
    """Every combination of edge values; an ordered pair's fields share their values, so the product has
    equal, swapped and ordered pairs at every bound."""
    names = strategy.param_names()
    axes = {n: _edges(strategy, n) for n in names}
    for a, b in strategy.params_type.ordered:
        axes[a] = axes[b] = axes[a] + axes[b]
    columns = np.array(list(itertools.product(*(dict.fromkeys(axes[n]) for n in names))), dtype=np.float64)
    return {n: columns[:, j].copy() for j, n in enumerate(names)}


def _random_table(strategy: Strategy[Any], size: int = 3_000, seed: int = 7) -> ParamTable:
    """Values spread over and beyond every field's bounds, half of them whole numbers."""
    rng = np.random.default_rng(seed)
    table = {}
    for name in strategy.param_names():
        bounds = _bounds(strategy, name) or [0.0]
        lo, hi = min(bounds), max(bounds)
        span = max(hi - lo, 1.0)
        v = rng.uniform(lo - 0.1 * span - 2, hi + 0.1 * span + 2, size)
        table[name] = np.where(rng.random(size) < 0.5, np.round(v), v)
    return table


def _accepted(strategy: Strategy[Any], row: dict[str, float]) -> bool:
    try:
        strategy.parse_params(row)
    except InputValidationError:
        return False
    return True


def _disagreements(strategy: Strategy[Any], table: ParamTable) -> list[dict[str, float]]:
    """The rows where ``valid_mask`` and ``parse_params`` disagree."""
    mask = strategy.valid_mask(table)
    assert mask.dtype == np.bool_ and mask.shape == (table_size(table),)
    rows = [table_row(table, i) for i in range(table_size(table))]
    return [row for row, ok in zip(rows, mask, strict=True) if bool(ok) != _accepted(strategy, row)]


@pytest.mark.parametrize("name", strategy_names())
def test_the_grid_mask_is_parse_params_on_every_edge_of_every_bound(name: str) -> None:
    s = get_strategy(name)
    table = _edge_table(s)
    mask = s.valid_mask(table)
    assert 0 < mask.sum() < len(mask)  # the edges reach both sides
    assert _disagreements(s, table) == []


@pytest.mark.parametrize("name", strategy_names())
def test_the_grid_mask_is_parse_params_on_random_sets(name: str) -> None:
    s = get_strategy(name)
    assert _disagreements(s, _random_table(s)) == []


@pytest.mark.parametrize("name", strategy_names())
def test_the_grid_mask_is_parse_params_on_odd_tables(name: str) -> None:
    s = get_strategy(name)
    base = _random_table(s, size=50)
    assert _disagreements(s, {**base, "unknown": np.zeros(50)}) == []
    for dropped in s.param_names():  # a missing column: its default if it has one, otherwise invalid
        assert _disagreements(s, {k: v for k, v in base.items() if k != dropped}) == []


def test_the_check_catches_a_bound_changed_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    s = get_strategy("sma_crossover")
    table = _edge_table(s)
    assert _disagreements(s, table) == []
    monkeypatch.setattr(s, "valid_mask", lambda t: Strategy.valid_mask(s, t) & (t["fast"] >= 3))
    assert _disagreements(s, table)
    monkeypatch.setattr(s, "valid_mask", lambda t: Strategy.valid_mask(s, t) | (t["fast"] == t["slow"]))
    assert _disagreements(s, table)


def test_default_grids_still_drop_unordered_pairs() -> None:
    for name in ("sma_crossover", "ema_crossover"):
        s = get_strategy(name)
        assert math.prod(len(v) for v in s.default_grid.values()) == 390
        table = expand_grid(s, None)
        assert table_size(table) == 345
        assert (table["fast"] < table["slow"]).all()
    crossing = expand_grid(get_strategy("ema_crossover"), {"fast": [10, 20, 30], "slow": [20, 30]})
    assert list(zip(crossing["fast"], crossing["slow"], strict=True)) == [(10, 20), (10, 30), (20, 30)]
    rsi = expand_grid(get_strategy("rsi_reversion"), {"lower": [30, 50, 60], "upper": [40, 50, 70]})
    assert list(zip(rsi["lower"], rsi["upper"], strict=True)) == [
        (30, 40),
        (30, 50),
        (30, 70),
        (50, 70),
        (60, 70),
    ]


def test_ordered_pairs_keep_their_error_messages() -> None:
    with pytest.raises(InputValidationError, match=r"fast \(30\) must be smaller than slow \(30\)"):
        get_strategy("sma_crossover").parse_params({"fast": 30, "slow": 30})
    with pytest.raises(InputValidationError, match=r"lower \(70.0\) must be smaller than upper \(30.0\)"):
        get_strategy("rsi_reversion").parse_params({"period": 14, "lower": 70, "upper": 30})


# --- what a params class may declare: only what the grid mask can check ---------------------------------


def test_a_params_class_is_refused_when_the_mask_could_not_see_a_constraint() -> None:
    with pytest.raises(TypeError, match="ge/gt/le/lt"):

        class Multiple(StrategyParams):
            n: int = Field(ge=1, multiple_of=5)

    with pytest.raises(TypeError, match="int or float"):

        class Text(StrategyParams):
            label: str

    with pytest.raises(TypeError, match="not a pair of parameter names"):

        class Typo(StrategyParams):
            fast: int
            slow: int
            ordered = (("fast", "slwo"),)

    with pytest.raises(TypeError, match="not validators"):

        class FieldCheck(StrategyParams):
            n: int

            @field_validator("n")
            @classmethod
            def _even(cls, v: int) -> int:
                return v

    with pytest.raises(TypeError, match="not validators"):

        class ModelCheck(StrategyParams):
            n: int

            @model_validator(mode="after")
            def _check(self) -> ModelCheck:
                return self

    with pytest.raises(TypeError, match="not validators"):

        class Override(StrategyParams):
            n: int

            @model_validator(mode="after")
            def _check_ordered(self) -> Override:
                return self


def test_a_declared_params_class_gets_both_checks() -> None:
    class Band(StrategyParams):
        low: float = Field(gt=-1, le=0)
        high: float = Field(default=0.5, ge=0, lt=1)
        n: int = Field(ge=1, le=10)
        m: int = 0  # unbounded: NaN, inf and floats beyond 64-bit integers are still refused
        ordered = (("low", "high"),)

    class BandStrategy(Strategy[Band]):
        name = "band_test"
        params_type = Band

        @property
        def default_params(self) -> Band:
            return Band(low=-0.5, n=2)

        @property
        def default_grid(self) -> dict[str, list[float]]:
            return {"low": [-0.5]}

        def min_bars(self, params: Band) -> int:
            return params.n

        def signals(self, prices: Any, params: Band) -> Any:
            raise NotImplementedError

    s = BandStrategy()
    assert _disagreements(s, _edge_table(s)) == []
    assert _disagreements(s, _random_table(s)) == []
    parsed = s.parse_params({"low": 0, "high": 0.5, "n": 3}).as_dict()
    assert parsed == {"low": 0.0, "high": 0.5, "n": 3.0, "m": 0.0}
    with pytest.raises(InputValidationError, match=r"low \(0.0\) must be smaller than high \(0.0\)"):
        s.parse_params({"low": 0, "high": 0, "n": 3})
