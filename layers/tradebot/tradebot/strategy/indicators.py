"""Indicator helpers shared by strategies (numpy only).

Crossover (same definition as backtesting.py's ``crossover``): ``a`` crosses above ``b`` at bar t when
``a[t-1] < b[t-1]`` and ``a[t] > b[t]``; it crosses below when ``a[t-1] > b[t-1]`` and ``a[t] < b[t]``.
Equal values are not crosses, and a cross needs both bars strictly on either side, so a path that passes
through an exact tie (below, equal, above) does not cross at all. NaN (an indicator still warming up)
compares false, so there is no cross until both values are defined on two consecutive bars.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def crossover(a: FloatArray, b: FloatArray) -> tuple[BoolArray, BoolArray]:
    """``(up, down)`` crosses of ``a`` over ``b`` along the last axis, for bars 1..n-1 of the inputs.

    ``a`` and ``b`` broadcast against each other (e.g. one fast average ``(n,)`` against many slow ones
    ``(k, n)``). The outputs have ``n - 1`` columns: column j is bar j + 1 (bar 0 cannot cross).
    """
    with np.errstate(invalid="ignore"):
        above = np.greater(a, b)
        below = np.less(a, b)
    up = below[..., :-1] & above[..., 1:]
    down = above[..., :-1] & below[..., 1:]
    return up, down


def crossover_full(a: FloatArray, b: FloatArray) -> tuple[BoolArray, BoolArray]:
    """:func:`crossover` padded with False at bar 0, so column t is bar t."""
    up, down = crossover(a, b)
    pad = np.zeros((*up.shape[:-1], 1), dtype=bool)
    return np.concatenate([pad, up], axis=-1), np.concatenate([pad, down], axis=-1)
