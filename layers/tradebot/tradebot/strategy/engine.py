"""From signals to positions to returns: the one-set path model and the vectorized grid evaluator.

Position state (every engine): the state after bar t is long or flat. It starts flat at the first bar of
the evaluated window; an ``enter`` signal while flat makes it long, an ``exit`` while long makes it
flat, anything else changes nothing (see :mod:`tradebot.strategy.base`). A change decided at bar t's
close fills at bar t+1's open, so the holding during bar t is the state after bar t-1. A decision on the
window's last bar has no fill inside the window. Nothing at bar t reads data after bar t.

Fractional-equity model (used to rank and score parameter sets; :mod:`tradebot.strategy.backtest` is the
whole-share, cash-account version). Equity starts at 1 at the close of the window's first bar ``a``
(nothing can be held yet: the earliest fill is bar a+1's open), is fully invested while long and marked at
every close. With holdings ``h[t-1]`` (into bar t's open) and ``h[t]`` (after it), the equity growth over
bar t is::

    g[t] = (Open[t]/Close[t-1] if h[t-1] else 1) * (Close[t]/Open[t] if h[t] else 1)
           * ((1 - commission) if h[t] != h[t-1] else 1)

i.e. the overnight gap belongs to the position held overnight, the session to the position after the
open fill, and each entry or exit costs ``commission`` as a fraction of equity. A round trip entered at
bar e's open and exited at bar x's open earns ``(1-c)**2 * Open[x]/Open[e]``; a trade still open at the
window's end is marked at its last close. ``n_trades`` counts entries (an open trade included). Daily
returns are ``g - 1`` for bars a+1 .. stop-1; Sharpe, total return and max drawdown follow
:mod:`tradebot.strategy.metrics`.

:func:`fractional_equity` computes the whole equity path of one parameter set bar by bar (the plain
reference). :func:`evaluate_grid` gives the same scores for thousands of sets without building a path per
set: signals are compared as boolean (set x bar) blocks, the few bars where a state changes are extracted,
and each trade's contribution is read from prefix sums of daily returns (Sharpe, total return) and from a
sparse table of range max / min / max-drawdown of log(Close) (max drawdown, combined across a set's trades
with its running peak). Cost: a few boolean passes over sets x bars plus O(trades).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradebot.errors import InputValidationError
from tradebot.strategy.base import BoolArray, IntArray, ParamTable, Strategy, table_size
from tradebot.strategy.metrics import ScoreDict, equity_scores, sharpe_from_sums
from tradebot.strategy.prices import FloatArray, Prices


@dataclass(frozen=True)
class GridScores:
    """Scores of every set of a :data:`ParamTable`, as arrays in table order."""

    sharpe: FloatArray
    total_return_pct: FloatArray
    max_drawdown_pct: FloatArray
    n_trades: IntArray

    def __len__(self) -> int:
        return len(self.sharpe)

    def row(self, i: int) -> ScoreDict:
        """Set ``i``'s scores with the keys of :class:`tradebot.models.Scores`."""
        return {
            "sharpe": float(self.sharpe[i]),
            "total_return_pct": float(self.total_return_pct[i]),
            "max_drawdown_pct": float(self.max_drawdown_pct[i]),
            "n_trades": int(self.n_trades[i]),
        }


def check_commission(commission: float) -> float:
    c = float(commission)
    if not (math.isfinite(c) and 0.0 <= c < 0.5):
        raise InputValidationError(f"commission must be a fraction in [0, 0.5), got {commission!r}")
    return c


def _window(prices: Prices, start: int, stop: int | None) -> tuple[int, int]:
    stop = len(prices) if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop <= len(prices):
        raise InputValidationError(f"bad window [{start}, {stop}) for {len(prices)} bars")
    return start, stop


# --- one parameter set -----------------------------------------------------------------------------------


def position_states(
    enter: BoolArray, exit_: BoolArray, start: int = 0, stop: int | None = None
) -> tuple[BoolArray, IntArray]:
    """``(long, since)`` after every bar: ``long[t]`` is the state after bar t from signals of bars
    ``start <= t < stop`` (flat before ``start`` and frozen after ``stop - 1``); ``since[t]`` is the bar
    whose signal set that state, -1 while flat from the start."""
    n = len(enter)
    stop = n if stop is None else stop
    long = np.zeros(n, dtype=bool)
    since = np.full(n, -1, dtype=np.intp)
    current, current_since, last = False, -1, start
    for t in (np.flatnonzero(enter[start:stop] | exit_[start:stop]) + start).tolist():
        want = bool(enter[t])  # a bar with both signals counts as enter
        if want != current:
            long[last:t] = current
            since[last:t] = current_since
            current, current_since, last = want, t, t
    long[last:] = current
    since[last:] = current_since
    return long, since


def holdings(long: BoolArray, start: int, stop: int) -> BoolArray:
    """Position held during each bar (after its open fill): ``h[t] = long[t-1]`` for ``start < t < stop``,
    False elsewhere (nothing is held during the window's first bar)."""
    h = np.zeros(len(long), dtype=bool)
    h[start + 1 : stop] = long[start : stop - 1]
    return h


def fractional_equity(
    prices: Prices,
    enter: BoolArray,
    exit_: BoolArray,
    *,
    start: int = 0,
    stop: int | None = None,
    commission: float = 0.0,
) -> tuple[FloatArray, int]:
    """The fractional model's equity at the closes of bars ``start .. stop-1`` (1.0 at ``start``) and the
    number of entries, computed bar by bar (see the module docstring)."""
    start, stop = _window(prices, start, stop)
    c = check_commission(commission)
    long, _ = position_states(enter, exit_, start, stop - 1)  # a decision on bar stop-1 has no fill
    h = holdings(long, start, stop)
    t = np.arange(start + 1, stop)
    before, after = h[t - 1], h[t]
    o, cl = prices.open, prices.close
    growth = (
        np.where(before, o[t] / cl[t - 1], 1.0)
        * np.where(after, cl[t] / o[t], 1.0)
        * np.where(before != after, 1.0 - c, 1.0)
    )
    equity = np.concatenate([[1.0], np.cumprod(growth)])
    return equity, int(np.count_nonzero(after & ~before))


def evaluate_params(
    prices: Prices,
    strategy: Strategy[Any],
    params: Any,
    *,
    start: int = 0,
    stop: int | None = None,
    commission: float = 0.0,
) -> ScoreDict:
    """Scores of one parameter set in the fractional model, from its full equity path."""
    enter, exit_ = strategy.signals(prices, strategy.parse_params(params))
    equity, n_trades = fractional_equity(prices, enter, exit_, start=start, stop=stop, commission=commission)
    return equity_scores(equity, n_trades)


# --- many parameter sets -------------------------------------------------------------------------------


def _floor_log2(x: IntArray) -> IntArray:
    return (np.frexp(x.astype(np.float64))[1] - 1).astype(np.intp)


class _RangeStats:
    """Sparse tables of a series for O(1) range max, min and max drawdown (max of v[s] - v[t], s <= t).

    Level k holds the stats of the blocks ``[i, i + 2**k)``; a query combines the two blocks of length
    ``2**floor(log2(len))`` that cover the range (overlap is harmless for max and min; for the drawdown the
    cross term pairs the first block's max with the min of the part of the range after that block).
    Tables are stored flat (level-major) so that queries are plain ``np.take`` gathers.
    """

    def __init__(self, v: FloatArray) -> None:
        n = len(v)
        self.n = n
        levels = max(1, n.bit_length())
        mx = np.full((levels, n), np.nan)
        mn = np.full((levels, n), np.nan)
        dd = np.full((levels, n), np.nan)
        mx[0], mn[0], dd[0] = v, v, 0.0
        for k in range(1, levels):
            half, m = 1 << (k - 1), n - (1 << k) + 1
            lo, hi = slice(0, m), slice(half, half + m)
            mx[k, lo] = np.maximum(mx[k - 1, lo], mx[k - 1, hi])
            mn[k, lo] = np.minimum(mn[k - 1, lo], mn[k - 1, hi])
            dd[k, lo] = np.maximum(np.maximum(dd[k - 1, lo], dd[k - 1, hi]), mx[k - 1, lo] - mn[k - 1, hi])
        self.mx, self.mn, self.dd = mx.ravel(), mn.ravel(), dd.ravel()

    def query(self, i: IntArray, j: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Max, min and max drawdown of ``v[i..j]`` (inclusive, ``i <= j``), elementwise."""
        k = _floor_log2(j - i + 1)
        size = np.left_shift(1, k)
        a = k * self.n + i  # first block [i, i + size)
        b = a + (j - size + 1 - i)  # last block [j - size + 1, j], same level
        mx_a = np.take(self.mx, a)
        mx = np.maximum(mx_a, np.take(self.mx, b))
        mn = np.minimum(np.take(self.mn, a), np.take(self.mn, b))
        dd = np.maximum(np.take(self.dd, a), np.take(self.dd, b))
        # pairs with the peak in the first block and the trough after it: [i + size, j], disjoint from it
        rest0 = i + size
        has_rest = rest0 <= j
        k2 = _floor_log2(np.where(has_rest, j - rest0 + 1, 1))
        c = k2 * self.n + np.where(has_rest, rest0, i)
        d = k2 * self.n + np.where(has_rest, j - np.left_shift(1, k2) + 1, i)
        rest_min = np.minimum(np.take(self.mn, c), np.take(self.mn, d))
        dd = np.where(has_rest, np.maximum(dd, mx_a - rest_min), dd)
        return mx, mn, dd


def _segmented_cummax(values: FloatArray, gid: IntArray) -> FloatArray:
    """Running max of ``values`` restarting at every new ``gid`` (ids ascending, runs contiguous).

    Each run is lifted above all earlier runs by ``gid * span`` before one global accumulate; the offset
    costs a few ulps of ``gid * span`` (about 1e-11 here), far below what the scores show.
    """
    if len(values) == 0:
        return values
    span = float(values.max() - values.min()) + 1.0
    offset = gid.astype(np.float64) * span
    return np.maximum.accumulate(values + offset) - offset


def _state_changes(
    strategy: Strategy[Any], prices: Prices, table: ParamTable, start: int, stop: int
) -> tuple[IntArray, IntArray, BoolArray]:
    """Signals that change the state (set, bar, is_enter), grouped by set, in bar order within a set."""
    sets: list[IntArray] = []
    bars: list[IntArray] = []
    ups: list[BoolArray] = []
    last_decision = stop - 2  # a decision on bar stop-1 would fill after the window
    for blk in strategy.signal_blocks(prices, table, start, stop):
        c0 = max(start - blk.t0, 0)
        c1 = min(last_decision + 1 - blk.t0, blk.enter.shape[1])
        if c1 <= c0:
            continue
        # flatnonzero on a contiguous copy is ~10x faster than a 2-d nonzero on a view
        flat = np.flatnonzero(np.ascontiguousarray(blk.signal[:, c0:c1]))
        r, c = np.divmod(flat, c1 - c0)
        sets.append(blk.rows[r])
        bars.append(c + (blk.t0 + c0))
        ups.append(blk.enter[r, c + c0])
    if not sets:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, dtype=bool)
    ev_set, ev_bar, ev_up = np.concatenate(sets), np.concatenate(bars), np.concatenate(ups)
    # the state before a signal is the previous signal of the same set (flat at the set's first one)
    prev_long = np.r_[False, ev_up[:-1] & (ev_set[1:] == ev_set[:-1])]
    change = ev_up != prev_long
    return ev_set[change], ev_bar[change], ev_up[change]


def evaluate_grid(
    prices: Prices,
    strategy: Strategy[Any],
    table: ParamTable,
    *,
    start: int = 0,
    stop: int | None = None,
    commission: float = 0.0,
) -> GridScores:
    """Fractional-model scores of every set of ``table`` over bars ``start .. stop-1``; equal (to rounding)
    to :func:`evaluate_params` of each set, without building per-set equity paths."""
    start, stop = _window(prices, start, stop)
    c = check_commission(commission)
    n_sets = table_size(table)
    sharpe = np.zeros(n_sets)
    total = np.zeros(n_sets)
    drawdown = np.zeros(n_sets)
    n_trades = np.zeros(n_sets, dtype=np.intp)

    ch_set, ch_bar, ch_up = _state_changes(strategy, prices, table, start, stop)
    entries = np.flatnonzero(ch_up)
    if len(entries) == 0:
        return GridScores(sharpe, total, drawdown, n_trades)
    # changes alternate enter/exit within a set: an entry's exit is the next change of the same set
    nxt = np.minimum(entries + 1, len(ch_set) - 1)
    closed = (entries + 1 < len(ch_set)) & (ch_set[nxt] == ch_set[entries])
    tr_set = ch_set[entries]
    e = ch_bar[entries] + 1  # entry fill bar
    x = np.where(closed, ch_bar[nxt] + 1, e)  # exit fill bar (e: placeholder for open trades)
    end = np.where(closed, x - 1, stop - 1)  # last bar held at its close

    o, cl = prices.open, prices.close
    keep = 1.0 - c
    lc = math.log1p(-c)
    log_o, log_c = np.log(o), np.log(cl)
    daily = np.zeros(len(cl))
    daily[1:] = cl[1:] / cl[:-1] - 1.0
    s1 = np.concatenate([[0.0], np.cumsum(daily)])
    s2 = np.concatenate([[0.0], np.cumsum(daily * daily)])

    # daily returns of each trade: entry bar, bars held close to close, exit bar
    r_entry = keep * cl[e] / o[e] - 1.0
    r_exit = np.where(closed, keep * o[x] / cl[x - 1] - 1.0, 0.0)
    sum_r = r_entry + (s1[end + 1] - s1[e + 1]) + r_exit
    sum_r2 = r_entry * r_entry + (s2[end + 1] - s2[e + 1]) + r_exit * r_exit
    # log equity relative to the level before the trade: lc + log_c[t] - log_o[e] while held
    base = lc - log_o[e]
    log_ret = np.where(closed, 2.0 * lc + log_o[x] - log_o[e], base + log_c[end])
    hi, lo_, dd_inside = _RangeStats(log_c).query(e, end)
    rel_max, rel_min = base + hi, base + lo_
    rel_peak = np.where(closed, np.maximum(rel_max, log_ret), rel_max)

    # per set, in trade order: log level before each trade and the running peak before it
    first = np.r_[True, tr_set[1:] != tr_set[:-1]]
    starts = np.flatnonzero(first)
    gid = np.cumsum(first) - 1
    done = np.cumsum(log_ret) - log_ret  # all earlier trades, of every set
    level_before = done - done[starts][gid]
    set_log_ret = np.add.reduceat(log_ret, starts)
    prior_peak = np.r_[0.0, (level_before + rel_peak)[:-1]]
    prior_peak[starts] = 0.0  # the starting level is the first peak
    peak_before = _segmented_cummax(prior_peak, gid)
    dd = np.maximum(dd_inside, peak_before - (level_before + rel_min))
    exit_dd = np.maximum(peak_before, level_before + rel_max) - (level_before + log_ret)
    dd = np.where(closed, np.maximum(dd, exit_dd), dd)

    rows = tr_set[starts]
    n_returns = stop - start - 1
    sharpe[rows] = sharpe_from_sums(
        np.add.reduceat(sum_r, starts), np.add.reduceat(sum_r2, starts), n_returns
    )
    total[rows] = np.expm1(set_log_ret) * 100.0
    drawdown[rows] = np.expm1(-np.maximum.reduceat(dd, starts)) * 100.0
    n_trades[rows] = np.diff(np.r_[starts, len(tr_set)])
    return GridScores(sharpe, total, drawdown, n_trades)
