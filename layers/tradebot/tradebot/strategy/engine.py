"""Scores of many parameter sets at once: the vectorized grid evaluator.

:func:`evaluate_grid` returns, for every set of a :data:`~tradebot.strategy.base.ParamTable`, the
:class:`~tradebot.strategy.metrics.ScoreDict` that :func:`evaluate_params` (the bar-by-bar account of
:func:`~tradebot.strategy.simulate.simulate`) gives for that set alone, over the same window and with
the same :class:`~tradebot.strategy.fills.FillModel`. Nothing loops over sets in Python. Two paths:

* **Trade-factor path** (the fill model is ``multiplicative``: fractional shares, all in, long only).
  Equity after a trade is the equity before it times a factor, so no per-set equity path is needed. An
  entry at bar e's open pays ``unit[e] = buy_price[e] * (1 + commission) + commission_per_share`` per
  share and an exit at bar x's open receives ``out[x] = sell_price[x] * (1 - commission) -
  commission_per_share``; while held, equity is ``equity_before * Close[t] / unit[e]``. Signals are
  compared as boolean (set x bar) blocks, the few bars where a state changes are extracted, and each
  trade's contribution is read from prefix sums of daily Close returns (Sharpe, Sortino, total return,
  exposure) and from a sparse table of range max / min / max-drawdown of log(Close) (max drawdown,
  combined across a set's trades with its running peak). Cost: a few boolean passes over sets x bars
  plus O(trades).
* **Account path** (any other fill model: whole shares, a fraction of equity, long/short). The state
  changes are extracted the same way; the fills are then applied in time order for all sets together
  (one vector step per fill number: cash, shares and fees as in the simulator), and the equity of a block
  of sets is laid out as a (sets x bars) array ``cash + shares * Close`` (each account repeated over the
  bars it lasts) from which the scores are reduced row by row. Cost: O(sets x bars) float work in
  blocks of ~1 M cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tradebot.strategy.base import BoolArray, IntArray, ParamTable, Strategy, table_size
from tradebot.strategy.fills import FillModel
from tradebot.strategy.metrics import (
    SCORE_KEYS,
    ScoreDict,
    cagr_pct_from_growth,
    calmar_from,
    equity_scores,
    sharpe_from_sums,
    sortino_from_sums,
)
from tradebot.strategy.prices import FloatArray, Prices
from tradebot.strategy.simulate import buy_price, fees, sell_price, shares_for, simulate, window

Int8Array = np.ndarray[Any, np.dtype[np.int8]]
BLOCK_CELLS = 1_000_000  # sets x bars per block of the account path


@dataclass(frozen=True)
class GridScores:
    """Scores of every set of a :data:`ParamTable`, as arrays in table order (see
    :mod:`~tradebot.strategy.metrics` for the formulas)."""

    sharpe: FloatArray
    sortino: FloatArray
    total_return_pct: FloatArray
    cagr_pct: FloatArray
    max_drawdown_pct: FloatArray
    calmar: FloatArray
    exposure_pct: FloatArray
    n_trades: IntArray

    def __len__(self) -> int:
        return len(self.sharpe)

    def row(self, i: int) -> ScoreDict:
        """Set ``i``'s scores as a :class:`ScoreDict`."""
        out: dict[str, Any] = {k: float(getattr(self, k)[i]) for k in SCORE_KEYS}
        out["n_trades"] = int(self.n_trades[i])
        return out  # type: ignore[return-value]

    def column(self, key: str) -> FloatArray:
        return np.asarray(getattr(self, key), dtype=np.float64)


def _days(prices: Prices, start: int, stop: int) -> float:
    return float((prices.index[stop - 1] - prices.index[start]).days)


# --- one parameter set -----------------------------------------------------------------------------------


def evaluate_params(
    prices: Prices,
    strategy: Strategy[Any],
    params: Any,
    *,
    start: int = 0,
    stop: int | None = None,
    fill: FillModel | None = None,
) -> ScoreDict:
    """Scores of one parameter set over bars ``start .. stop-1``, from its simulated account."""
    fill = fill or FillModel()
    start, stop = window(prices, start, stop)
    enter, exit_ = strategy.signals(prices, strategy.parse_params(params))
    sim = simulate(prices, enter, exit_, fill, start=start, stop=stop)
    return equity_scores(
        sim.equity,
        sim.n_entries,
        days=_days(prices, start, stop),
        exposure_bars=int(np.count_nonzero(sim.shares)),
    )


# --- many parameter sets -------------------------------------------------------------------------------


def _state_changes(
    strategy: Strategy[Any], prices: Prices, table: ParamTable, start: int, stop: int, long_short: bool
) -> tuple[IntArray, IntArray, Int8Array]:
    """Signals that change the target state: (set, decision bar, new state in {-1, 0, 1}), grouped by
    set, in bar order within a set. Only decisions that can fill inside the window (bar <= stop - 2).
    Every set is in exactly one block (see SignalBlock), so changes are found block by block and only
    they are kept (level-based strategies signal on most bars)."""
    sets: list[IntArray] = []
    bars: list[IntArray] = []
    states: list[Int8Array] = []
    last_decision = stop - 2
    off = np.int8(-1 if long_short else 0)
    for blk in strategy.signal_blocks(prices, table, start, stop):
        c0 = max(start - blk.t0, 0)
        c1 = min(last_decision + 1 - blk.t0, blk.enter.shape[1])
        if c1 <= c0:
            continue
        # flatnonzero on a contiguous copy is ~10x faster than a 2-d nonzero on a view
        flat = np.flatnonzero(np.ascontiguousarray(blk.signal[:, c0:c1]))
        r, c = np.divmod(flat, c1 - c0)
        state = np.where(blk.enter[r, c + c0], np.int8(1), off)
        # the state before a signal is the previous signal's state in the same set (flat at its first)
        prev = np.empty_like(state)
        prev[:1] = 0
        prev[1:] = np.where(r[1:] == r[:-1], state[:-1], 0)
        change = state != prev
        sets.append(blk.rows[r[change]])
        bars.append(c[change] + (blk.t0 + c0))
        states.append(state[change])
    if not sets:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, dtype=np.int8)
    return np.concatenate(sets), np.concatenate(bars), np.concatenate(states)


def evaluate_grid(
    prices: Prices,
    strategy: Strategy[Any],
    table: ParamTable,
    *,
    start: int = 0,
    stop: int | None = None,
    fill: FillModel | None = None,
) -> GridScores:
    """Scores of every set of ``table`` over bars ``start .. stop-1``; equal (to rounding) to
    :func:`evaluate_params` of each set, without a Python loop over sets."""
    fill = fill or FillModel()
    start, stop = window(prices, start, stop)
    n_sets = table_size(table)
    ch_set, ch_bar, ch_state = _state_changes(strategy, prices, table, start, stop, fill.long_short)
    if fill.multiplicative:
        out = sell_price(prices.open, fill.slippage) * (1.0 - fill.commission) - fill.commission_per_share
        if np.all(np.asarray(out)[start:stop] > 0):
            return _trade_factor_scores(prices, n_sets, ch_set, ch_bar, ch_state > 0, start, stop, fill)
    return _account_scores(prices, n_sets, ch_set, ch_bar, ch_state, start, stop, fill)


def _empty_scores(n_sets: int) -> dict[str, Any]:
    out: dict[str, Any] = {k: np.zeros(n_sets) for k in SCORE_KEYS}
    out["n_trades"] = np.zeros(n_sets, dtype=np.intp)
    return out


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


def _trade_factor_scores(
    prices: Prices,
    n_sets: int,
    ch_set: IntArray,
    ch_bar: IntArray,
    ch_up: BoolArray,
    start: int,
    stop: int,
    fill: FillModel,
) -> GridScores:
    scores = _empty_scores(n_sets)
    entries = np.flatnonzero(ch_up)
    if len(entries) == 0:
        return GridScores(**scores)
    # changes alternate enter/exit within a set: an entry's exit is the next change of the same set
    nxt = np.minimum(entries + 1, len(ch_set) - 1)
    closed = (entries + 1 < len(ch_set)) & (ch_set[nxt] == ch_set[entries])
    tr_set = ch_set[entries]
    e = ch_bar[entries] + 1  # entry fill bar
    x = np.where(closed, ch_bar[nxt] + 1, e)  # exit fill bar (e: placeholder for open trades)
    end = np.where(closed, x - 1, stop - 1)  # last bar held at its close

    o, cl = prices.open, prices.close
    c, cps, slip = fill.commission, fill.commission_per_share, fill.slippage
    unit = buy_price(o[e], slip) * (1.0 + c) + cps  # paid per share at entry
    out = np.where(closed, sell_price(o[x], slip) * (1.0 - c) - cps, 1.0)  # received per share at exit
    log_unit, log_out, log_c = np.log(unit), np.log(out), np.log(cl)
    daily = np.zeros(len(cl))
    daily[1:] = cl[1:] / cl[:-1] - 1.0
    s1 = np.concatenate([[0.0], np.cumsum(daily)])
    s2 = np.concatenate([[0.0], np.cumsum(daily * daily)])
    s3 = np.concatenate([[0.0], np.cumsum(np.minimum(daily, 0.0) ** 2)])

    # daily returns of each trade: entry bar, bars held close to close, exit bar
    r_entry = cl[e] / unit - 1.0
    r_exit = np.where(closed, out / cl[x - 1] - 1.0, 0.0)
    sum_r = r_entry + (s1[end + 1] - s1[e + 1]) + r_exit
    sum_r2 = r_entry * r_entry + (s2[end + 1] - s2[e + 1]) + r_exit * r_exit
    sum_d2 = np.minimum(r_entry, 0.0) ** 2 + (s3[end + 1] - s3[e + 1]) + np.minimum(r_exit, 0.0) ** 2
    # log equity relative to the level before the trade: log_c[t] - log_unit while held
    base = -log_unit
    log_ret = np.where(closed, log_out - log_unit, base + log_c[end])
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
    total_r = np.add.reduceat(sum_r, starts)
    scores["sharpe"][rows] = sharpe_from_sums(total_r, np.add.reduceat(sum_r2, starts), n_returns)
    scores["sortino"][rows] = sortino_from_sums(total_r, np.add.reduceat(sum_d2, starts), n_returns)
    scores["total_return_pct"][rows] = np.expm1(set_log_ret) * 100.0
    scores["max_drawdown_pct"][rows] = np.expm1(-np.maximum.reduceat(dd, starts)) * 100.0
    scores["exposure_pct"][rows] = 100.0 * np.add.reduceat(end - e + 1, starts) / (stop - start)
    scores["n_trades"][rows] = np.diff(np.r_[starts, len(tr_set)])
    return _finish(scores, _days(prices, start, stop))


def _finish(scores: dict[str, Any], days: float) -> GridScores:
    scores["cagr_pct"] = cagr_pct_from_growth(1.0 + scores["total_return_pct"] / 100.0, days)
    scores["calmar"] = calmar_from(scores["cagr_pct"], scores["max_drawdown_pct"])
    return GridScores(**scores)


def _apply_fills(
    prices: Prices,
    ch_set: IntArray,
    ch_bar: IntArray,
    ch_state: Int8Array,
    fill: FillModel,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Cash and shares after each state change, and whether it opened a position: the simulator's
    account, stepped for all sets at once (one step per fill number)."""
    n = len(ch_set)
    cash_after, shares_after = np.empty(n), np.empty(n)
    opened = np.zeros(n, dtype=bool)
    first = np.flatnonzero(np.r_[True, ch_set[1:] != ch_set[:-1]])
    counts = np.diff(np.r_[first, n])
    order = np.argsort(-counts, kind="stable")  # most changes first: active sets are a prefix
    first, counts = first[order], counts[order]
    cash = np.full(len(first), float(fill.cash))
    shares = np.zeros(len(first))
    o, slip = prices.open, fill.slippage
    for k in range(int(counts[0]) if len(counts) else 0):
        m = int(np.searchsorted(-counts, -k, side="left"))  # sets with more than k changes
        idx = first[:m] + k
        t = ch_bar[idx] + 1
        cash, shares = cash[:m], shares[:m]
        p_buy, p_sell = buy_price(o[t], slip), sell_price(o[t], slip)
        # close what is held (as simulate: a long sells, a short buys back)
        long_fee = fees(shares, p_sell, fill)
        short_fee = fees(-shares, p_buy, fill)
        cash = np.where(
            shares > 0,
            cash + shares * p_sell - long_fee,
            np.where(shares < 0, cash - (-shares * p_buy + short_fee), cash),
        )
        # open the new position, sized from the cash
        new = ch_state[idx]
        price = np.where(new > 0, p_buy, p_sell)
        q = shares_for(cash, price, fill)
        go = (new != 0) & (q > 0)
        fee = fees(q, price, fill)
        cash = np.where(go, np.where(new > 0, cash - (q * price + fee), cash + (q * price - fee)), cash)
        shares = np.where(go, np.where(new > 0, q, -q), 0.0)
        cash_after[idx], shares_after[idx], opened[idx] = cash, shares, go
    return cash_after, shares_after, opened


def _account_scores(
    prices: Prices,
    n_sets: int,
    ch_set: IntArray,
    ch_bar: IntArray,
    ch_state: Int8Array,
    start: int,
    stop: int,
    fill: FillModel,
) -> GridScores:
    scores = _empty_scores(n_sets)
    if len(ch_set) == 0:
        return GridScores(**scores)
    cash_after, shares_after, opened = _apply_fills(prices, ch_set, ch_bar, ch_state, fill)
    n = stop - start
    close = prices.close[start:stop]
    first = np.flatnonzero(np.r_[True, ch_set[1:] != ch_set[:-1]])
    bounds = np.r_[first, len(ch_set)]
    sets = ch_set[first]
    ordinal = np.repeat(np.arange(len(sets)), np.diff(bounds))  # each change's set, 0..len(sets)-1
    # each set's accounts in a row: its initial account, then the account after each of its changes
    cash_ext = np.full(len(ch_set) + len(sets), float(fill.cash))
    shares_ext = np.zeros(len(ch_set) + len(sets))
    cash_ext[np.arange(len(ch_set)) + ordinal + 1] = cash_after
    shares_ext[np.arange(len(ch_set)) + ordinal + 1] = shares_after
    row_start = bounds + np.arange(len(sets) + 1)  # where each set's accounts begin in the *_ext arrays
    fbar = ch_bar + 1 - start  # fill bar, relative to the window
    # each account lasts from its fill to the set's next fill (or the window's end)
    nxt = np.r_[fbar[1:], n]
    nxt[bounds[1:] - 1] = n
    lasts = np.empty(len(ch_set) + len(sets), dtype=np.intp)
    lasts[np.arange(len(ch_set)) + ordinal + 1] = nxt - fbar
    lasts[row_start[:-1]] = fbar[bounds[:-1]]  # the initial account, until the first fill
    held = np.where(shares_after != 0, nxt - fbar, 0)  # bars with a position at the close
    exposure = np.bincount(ordinal, weights=held, minlength=len(sets))
    per_block = max(1, BLOCK_CELLS // n)
    n_returns = n - 1
    col = np.arange(n)
    r_buf = np.empty((min(per_block, len(sets)), n - 1))  # reused: fresh pages cost as much as the math
    peak_buf = np.empty((min(per_block, len(sets)), n))
    for b0 in range(0, len(sets), per_block):
        b1 = min(b0 + per_block, len(sets))
        rows = sets[b0:b1]
        lo, hi = bounds[b0], bounds[b1]
        local = ordinal[lo:hi] - b0
        # (sets x bars) accounts: each set's accounts repeated over the bars they last, row after row
        e0, e1 = row_start[b0], row_start[b1]
        equity = np.repeat(shares_ext[e0:e1], lasts[e0:e1]).reshape(b1 - b0, n)
        equity *= close
        equity += np.repeat(cash_ext[e0:e1], lasts[e0:e1]).reshape(b1 - b0, n)
        bust_bar = np.full(b1 - b0, n)
        if fill.long_short:  # only a short can take equity to 0 (see simulate)
            busted = equity <= 0
            bust_bar = np.where(busted.any(axis=1), np.argmax(busted, axis=1), n)
            del busted
        if (bust_bar < n).any():
            equity[col >= bust_bar[:, None]] = 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(equity[:, :-1] > 0, equity[:, 1:] / equity[:, :-1] - 1.0, 0.0)
        else:
            r = np.divide(equity[:, 1:], equity[:, :-1], out=r_buf[: b1 - b0])
            r -= 1.0
        total_r = r.sum(axis=1)
        sum_r2 = np.einsum("ij,ij->i", r, r)
        np.minimum(r, 0.0, out=r)
        sum_d2 = np.einsum("ij,ij->i", r, r)
        del r
        scores["sharpe"][rows] = sharpe_from_sums(total_r, sum_r2, n_returns)
        scores["sortino"][rows] = sortino_from_sums(total_r, sum_d2, n_returns)
        scores["total_return_pct"][rows] = (equity[:, -1] / equity[:, 0] - 1.0) * 100.0
        peak = np.maximum.accumulate(equity, axis=1, out=peak_buf[: b1 - b0])  # > 0: starts with the cash
        ratio = np.divide(equity, peak, out=peak)
        scores["max_drawdown_pct"][rows] = (ratio.min(axis=1) - 1.0) * 100.0
        del equity
        busted_sets = bust_bar < n
        if busted_sets.any():  # a bust closes the position at that close: no exposure after it
            for j in np.flatnonzero(busted_sets):
                c0, c1 = bounds[b0 + j], bounds[b0 + j + 1]
                ends = np.minimum(nxt[c0:c1], bust_bar[j])
                spans = np.where(shares_after[c0:c1] != 0, ends - fbar[c0:c1], 0)
                exposure[b0 + j] = np.maximum(spans, 0).sum()
        scores["exposure_pct"][rows] = 100.0 * exposure[b0:b1] / n
        counted = opened[lo:hi] & (fbar[lo:hi] <= bust_bar[local])
        scores["n_trades"][rows] = np.bincount(local, weights=counted, minlength=b1 - b0).astype(np.intp)
    return _finish(scores, _days(prices, start, stop))
