"""What a strategy is, for the engines: typed parameters, a default grid, and entry/exit signals.

A strategy emits two boolean signals per bar, both decided at the bar's close with data up to that bar:

* ``enter[t]``: the strategy wants to be long after bar t;
* ``exit[t]``: the strategy wants to be flat after bar t.

(At most one of them should be true on a bar; if both are, ``enter`` wins.) The engines turn signals into
a position state with one rule shared by every strategy (see :mod:`tradebot.strategy.simulate`): the
state starts flat, an ``enter`` makes it long, an ``exit`` makes it flat (or short, when the fill model
is long/short), anything else changes nothing. A change decided at bar t's close fills at bar t+1's open.

Adding a strategy is one small module: a :class:`StrategyParams` subclass (pydantic, validated), a
:class:`Strategy` subclass with ``name``, ``default_params``, ``default_grid``, ``min_bars`` and
``signals``, decorated with :func:`tradebot.strategy.registry.register` and listed in the registry's
``BUILTIN_MODULES``. ``signals`` for one parameter set is all that is required: the default
:meth:`Strategy.signal_blocks` evaluates a grid set by set. Override ``signal_blocks`` (and
``min_bars_many``) to evaluate a whole grid with array operations: most strategies compare one indicator
per window with many thresholds, which :func:`grouped_rows` organizes (see
:mod:`~tradebot.strategy.ts_momentum` for a short example, :mod:`~tradebot.strategy.crossover` for
crossovers).

Parameter constraints are declared once, on the params class, and checked two ways from that one
declaration: set by set by pydantic (:meth:`Strategy.parse_params`) and for a whole grid at once by
:meth:`Strategy.valid_mask`. A field is ``int`` or ``float``, bounded with ``Field(ge=, gt=, le=, lt=)``;
a cross-field order goes in :attr:`StrategyParams.ordered`. Anything else (other constraints, custom
validators) is refused when the class is defined, since the grid mask could not see it.
"""

from __future__ import annotations

import itertools
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np
import numpy.typing as npt
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from tradebot.errors import InputValidationError
from tradebot.strategy.prices import Prices

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]
ParamTable = dict[str, FloatArray]
"""Many parameter sets as columns: name -> float64 array, one entry per set (all the same length)."""

MAX_GRID_SETS = 200_000


_BOUNDS: dict[type, tuple[str, Callable[[Any, float], Any]]] = {
    Ge: ("ge", operator.ge),
    Gt: ("gt", operator.gt),
    Le: ("le", operator.le),
    Lt: ("lt", operator.lt),
}
"""The field bounds a grid mask can check: annotated_types class -> (its attribute, the comparison)."""
_INT_LIMIT = 2.0**63
"""pydantic parses an integral float as an ``int`` only when its magnitude is below this (64-bit)."""


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: unknown names are an error, values are immutable.

    The whole declaration of which values are valid (see the module docstring): each field is ``int`` or
    ``float`` with optional ``Field(ge=, gt=, le=, lt=)`` bounds, and :attr:`ordered` lists the pairs of
    fields that must be strictly increasing. Defining a subclass with anything else (another type or
    constraint, an unknown name in ``ordered``, its own validator) raises TypeError.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ordered: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Pairs ``(a, b)`` of field names with ``a < b`` required (e.g. ``(("fast", "slow"),)``)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        where = cls.__name__
        for name, field in cls.model_fields.items():
            if field.annotation not in (int, float):
                raise TypeError(f"{where}.{name}: a parameter is int or float, not {field.annotation}")
            extra = [m for m in field.metadata if type(m) not in _BOUNDS]
            if extra:
                raise TypeError(f"{where}.{name}: a grid can check ge/gt/le/lt bounds only, not {extra}")
        for pair in cls.ordered:
            unknown = [n for n in pair if n not in cls.model_fields]
            if len(pair) != 2 or unknown:
                raise TypeError(f"{where}.ordered: {pair!r} is not a pair of parameter names")
        decorators = cls.__pydantic_decorators__
        validators = {
            **decorators.validators,
            **decorators.field_validators,
            **decorators.root_validators,
            **decorators.model_validators,
        }
        if set(validators) != {"_check_ordered"} or "_check_ordered" in vars(cls):
            raise TypeError(f"{where}: declare constraints with Field bounds and `ordered`, not validators")

    @model_validator(mode="after")
    def _check_ordered(self) -> Self:
        for a, b in self.ordered:
            low, high = getattr(self, a), getattr(self, b)
            if not low < high:
                raise ValueError(f"{a} ({low}) must be smaller than {b} ({high})")
        return self

    def as_dict(self) -> dict[str, float]:
        """The parameters as ``dict[str, float]`` (the form stored in contracts and DynamoDB)."""
        return {k: float(v) for k, v in self.model_dump().items()}


P = TypeVar("P", bound=StrategyParams)


@dataclass(frozen=True)
class SignalBlock:
    """Signals of some parameter sets over consecutive bars.

    ``rows`` are indices into the evaluated :data:`ParamTable`; ``signal`` and ``enter`` have shape
    ``(len(rows), n_columns)`` and column ``j`` is bar ``t0 + j``. ``signal`` marks the bars with a signal
    (``enter | exit``); where it is true, ``enter`` tells which (True: enter, False: exit). Elsewhere
    ``enter`` is ignored, so a strategy may pass any array that is right at the signal bars (e.g. "fast
    above slow" for a crossover). Every set of the table must be in exactly one block.
    """

    rows: IntArray
    t0: int
    signal: BoolArray
    enter: BoolArray


@dataclass(frozen=True)
class PositionState:
    """The position after a bar: long or flat, and the bar whose signal put it there (None: never
    entered, flat from the start)."""

    long: bool
    since: int | None


class Strategy(ABC, Generic[P]):
    """A strategy: entry and exit signals from typed parameters. Subclasses set ``name``,
    ``params_type`` and implement the abstract parts."""

    name: ClassVar[str]
    params_type: ClassVar[type[StrategyParams]]
    description: ClassVar[str] = ""

    # --- parameters ----------------------------------------------------------------------------------

    @property
    @abstractmethod
    def default_params(self) -> P: ...

    @property
    @abstractmethod
    def default_grid(self) -> dict[str, list[float]]:
        """The grid :func:`~tradebot.strategy.optimize` searches when the caller gives none."""

    def parse_params(self, params: Mapping[str, Any] | StrategyParams | None) -> P:
        """Validated parameters (None: the defaults). Bad names or values raise InputValidationError."""
        if params is None:
            return self.default_params
        if isinstance(params, self.params_type):
            return params  # type: ignore[return-value]
        if isinstance(params, StrategyParams):
            params = params.model_dump()
        if not isinstance(params, Mapping):
            raise InputValidationError(f"{self.name}: params must be a mapping, got {type(params).__name__}")
        try:
            return self.params_type.model_validate(dict(params))  # type: ignore[return-value]
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
            )
            raise InputValidationError(f"{self.name} params {dict(params)!r}: {problems}") from None

    def param_names(self) -> list[str]:
        return list(self.params_type.model_fields)

    @abstractmethod
    def min_bars(self, params: P) -> int:
        """Bars needed before the strategy can complete its first fill (warm-up + signal + next open)."""

    def min_bars_many(self, table: ParamTable) -> IntArray:
        """:meth:`min_bars` of every set of a (valid) table."""
        return np.array([self.min_bars(p) for p in self.iter_params(table)], dtype=np.intp)

    def valid_mask(self, table: ParamTable) -> BoolArray:
        """Which sets of ``table`` are valid parameters (grid expansion drops the others): a bool array of
        shape ``(table_size(table),)``, True at row i exactly when :meth:`parse_params` accepts row i.

        Derived from the params class's declaration (see :class:`StrategyParams`): integrality of ``int``
        fields, the ``ge``/``gt``/``le``/``lt`` bounds and the ``ordered`` pairs. NaN fails every check; a
        column not in ``table`` takes the field's default (no default, or an unknown column: no row is
        valid). Never raises.
        """
        size = table_size(table)
        fields = self.params_type.model_fields
        if set(table) - set(fields):
            return np.zeros(size, dtype=bool)
        ok = np.ones(size, dtype=bool)
        values: dict[str, FloatArray] = {}
        for name, field in fields.items():
            if name not in table:  # pydantic takes the default as it is, without checking it
                if field.is_required():
                    return np.zeros(size, dtype=bool)
                values[name] = np.full(size, float(field.default))
                continue
            values[name] = v = np.asarray(table[name], dtype=np.float64)
            if field.annotation is int:
                ok &= (np.abs(v) < _INT_LIMIT) & (v == np.round(v))
            for bound in field.metadata:
                ok &= _within(v, bound)
        for a, b in self.params_type.ordered:
            ok &= values[a] < values[b]
        return ok

    def iter_params(self, table: ParamTable) -> Iterator[P]:
        for i in range(table_size(table)):
            yield self.parse_params({k: float(v[i]) for k, v in table.items()})

    # --- signals -------------------------------------------------------------------------------------

    @abstractmethod
    def signals(self, prices: Prices, params: P) -> tuple[BoolArray, BoolArray]:
        """``(enter, exit)`` for every bar of ``prices``; bar t may use data up to bar t only."""

    def signal_blocks(
        self, prices: Prices, table: ParamTable, start: int, stop: int, block_rows: int = 256
    ) -> Iterator[SignalBlock]:
        """Signals of every set of ``table`` for bars ``start <= t < stop``.

        This default calls :meth:`signals` once per set; vectorized strategies override it.
        """
        rows: list[int] = []
        enters: list[BoolArray] = []
        exits: list[BoolArray] = []
        for i, params in enumerate(self.iter_params(table)):
            enter, exit_ = self.signals(prices, params)
            rows.append(i)
            enters.append(enter[start:stop])
            exits.append(exit_[start:stop])
            if len(rows) == block_rows:
                yield _block(rows, start, enters, exits)
                rows, enters, exits = [], [], []
        if rows:
            yield _block(rows, start, enters, exits)

    def explain(self, prices: Prices, params: P, t: int, state: PositionState) -> str:
        """A human reason for the position after bar t (strategies override it with their numbers)."""
        if state.since is None:
            return f"{self.name}: flat, no entry signal yet"
        side = "long" if state.long else "flat"
        what = "entry" if state.long else "exit"
        return f"{self.name}: {side} since {prices.date(state.since)} {what} signal"


def _within(v: FloatArray, bound: object) -> BoolArray:
    """``v`` against one annotated_types bound (Ge, Gt, Le or Lt): False where ``v`` is NaN."""
    attr, test = _BOUNDS[type(bound)]
    return np.asarray(test(v, float(getattr(bound, attr))), dtype=bool)


def _block(rows: list[int], t0: int, enters: list[BoolArray], exits: list[BoolArray]) -> SignalBlock:
    enter = np.stack(enters)
    return SignalBlock(np.array(rows, dtype=np.intp), t0, enter | np.stack(exits), enter)


# --- parameter tables -----------------------------------------------------------------------------------


def table_size(table: ParamTable) -> int:
    return len(next(iter(table.values()))) if table else 0


def table_row(table: ParamTable, i: int) -> dict[str, float]:
    return {k: float(v[i]) for k, v in table.items()}


def expand_grid(strategy: Strategy[Any], grid: Mapping[str, Sequence[float]] | None) -> ParamTable:
    """The cartesian product of ``grid`` (default: the strategy's) as a table of VALID sets, in grid order
    (the first parameter varies slowest). A name missing from ``grid`` takes its default value; unknown
    names, empty or non-finite values, and grids with no valid set raise InputValidationError."""
    grid = strategy.default_grid if grid is None else grid
    names = strategy.param_names()
    unknown = sorted(set(grid) - set(names))
    if unknown:
        raise InputValidationError(
            f"{strategy.name} grid: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(names)}"
        )
    defaults = strategy.default_params.as_dict()
    axes: list[list[float]] = []
    for n in names:
        raw = grid.get(n, [defaults[n]])
        try:
            values = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise InputValidationError(f"{strategy.name} grid: {n} must be a list of numbers") from None
        if not values or not all(math.isfinite(v) for v in values):
            raise InputValidationError(f"{strategy.name} grid: {n} needs at least one finite value")
        axes.append(list(dict.fromkeys(values)))  # drop duplicates, keep order
    total = math.prod(len(a) for a in axes)
    if total > MAX_GRID_SETS:
        raise InputValidationError(f"{strategy.name} grid: {total} sets exceeds the limit of {MAX_GRID_SETS}")
    columns = np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(total, len(names))
    table = {n: np.ascontiguousarray(columns[:, j]) for j, n in enumerate(names)}
    keep = strategy.valid_mask(table)
    if not keep.any():
        raise InputValidationError(f"{strategy.name} grid: no valid parameter set in {dict(grid)!r}")
    return {n: v[keep] for n, v in table.items()}


def grouped_rows(table: ParamTable, key: str, block_rows: int = 512) -> Iterator[tuple[int, IntArray]]:
    """The rows of ``table`` grouped by the (integer) value of column ``key``, in chunks of at most
    ``block_rows``: ``(value, rows)`` pairs, values ascending, rows in table order within a group."""
    values = table[key].astype(np.intp)
    order = np.argsort(values, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(values[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    for g0, g1 in zip(starts, ends, strict=True):
        for c0 in range(g0, g1, block_rows):
            yield int(values[order[g0]]), order[c0 : min(c0 + block_rows, g1)]


def level_block(rows: IntArray, t0: int, enter: BoolArray, exit_: BoolArray) -> SignalBlock:
    """A :class:`SignalBlock` from (rows x bars) enter / exit conditions (enter wins a tie)."""
    return SignalBlock(rows=rows, t0=t0, signal=enter | exit_, enter=enter)


def column(table: ParamTable, key: str, rows: IntArray) -> FloatArray:
    """``table[key][rows]`` as a (len(rows), 1) column, to broadcast against one indicator row."""
    return table[key][rows][:, None]
