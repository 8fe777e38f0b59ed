"""From signals to positions to fills to equity, one parameter set at a time (the reference path model).

Position state: the target after bar t is long (+1), flat (0) or short (-1). It starts flat at the first
bar of the evaluated window; an ``enter`` signal makes it long; an ``exit`` makes it flat (long only) or
short (``long_short``); anything else changes nothing. (A bar with both signals counts as ``enter``.) A
change decided at bar t's close fills at bar t+1's open, so the position held during bar t is the target
after bar t-1. A decision on the window's last bar has no fill inside the window. Nothing at bar t reads
data after bar t.

:func:`simulate` walks the fills in time order with a cash account and the costs and sizing of a
:class:`~tradebot.strategy.fills.FillModel` (see that module). The vectorized grid engine
(:mod:`tradebot.strategy.engine`) computes the same numbers for many sets at once; both use the
arithmetic helpers below, so a share count rounds the same way in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tradebot.errors import InputValidationError
from tradebot.strategy.fills import FillModel
from tradebot.strategy.prices import FloatArray, Prices

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
Int8Array = npt.NDArray[np.int8]


def window(prices: Prices, start: int, stop: int | None) -> tuple[int, int]:
    stop = len(prices) if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop <= len(prices):
        raise InputValidationError(f"bad window [{start}, {stop}) for {len(prices)} bars")
    return start, stop


def target_states(
    enter: BoolArray,
    exit_: BoolArray,
    start: int = 0,
    stop: int | None = None,
    *,
    long_short: bool = False,
) -> tuple[Int8Array, IntArray]:
    """``(state, since)`` after every bar: ``state[t]`` in {-1, 0, 1} from the signals of bars
    ``start <= t < stop`` (flat before ``start``, frozen after ``stop - 1``); ``since[t]`` is the bar whose
    signal set that state, -1 while flat from the start."""
    n = len(enter)
    stop = n if stop is None else stop
    state = np.zeros(n, dtype=np.int8)
    since = np.full(n, -1, dtype=np.intp)
    off = -1 if long_short else 0
    current, current_since, last = 0, -1, start
    for t in (np.flatnonzero(enter[start:stop] | exit_[start:stop]) + start).tolist():
        want = 1 if enter[t] else off
        if want != current:
            state[last:t] = current
            since[last:t] = current_since
            current, current_since, last = want, t, t
    state[last:] = current
    since[last:] = current_since
    return state, since


def position_states(
    enter: BoolArray, exit_: BoolArray, start: int = 0, stop: int | None = None
) -> tuple[BoolArray, IntArray]:
    """Long-only :func:`target_states` as ``(long, since)``."""
    state, since = target_states(enter, exit_, start, stop)
    return state > 0, since


# --- fill arithmetic, shared with the grid engine (same operations, same rounding) ---------------------


def buy_price(open_: FloatArray | float, slippage: float) -> FloatArray | float:
    return open_ * (1.0 + slippage)


def sell_price(open_: FloatArray | float, slippage: float) -> FloatArray | float:
    return open_ * (1.0 - slippage)


def shares_for(equity: FloatArray | float, price: FloatArray | float, fill: FillModel) -> FloatArray | float:
    """Shares a position opened at ``price`` gets from ``equity`` (>= 0; whole unless fractional)."""
    budget = np.multiply(equity, fill.size_fraction)
    unit = np.add(np.multiply(price, 1.0 + fill.commission), fill.commission_per_share)
    q = np.divide(budget, unit)
    if fill.fractional:
        return np.maximum(q, 0.0)
    q = np.floor(q)
    q = q - (np.multiply(q, unit) > budget)  # guard against rounding in the division
    return np.maximum(q, 0.0)


def fees(shares: FloatArray | float, price: FloatArray | float, fill: FillModel) -> FloatArray | float:
    """Commission of a fill of ``shares`` (>= 0) at ``price``."""
    return np.add(
        np.multiply(np.multiply(shares, price), fill.commission),
        np.multiply(shares, fill.commission_per_share),
    )


@dataclass(frozen=True)
class SimFill:
    """One fill of the research simulation (a bar index, signed shares); the pipeline's is contracts.Fill."""

    bar: int
    shares: float  # signed: > 0 buys, < 0 sells
    price: float
    fee: float


@dataclass(frozen=True)
class Simulation:
    """A cash account over bars ``start .. stop-1``: arrays are indexed from ``start`` (length
    ``stop - start``); ``fills`` in time order; ``bust`` is the bar where equity reached 0, if any."""

    start: int
    stop: int
    equity: FloatArray
    cash: FloatArray
    shares: FloatArray
    fills: list[SimFill]
    n_entries: int
    bust: int | None
    # bars whose entry signal could not be taken: zero shares affordable at that open (small account, or
    # whole shares dearer than the cash)
    entries_not_taken: list[int] = field(default_factory=list)


def simulate(
    prices: Prices,
    enter: BoolArray,
    exit_: BoolArray,
    fill: FillModel,
    *,
    start: int = 0,
    stop: int | None = None,
) -> Simulation:
    """Run the account bar by bar over ``[start, stop)`` (see the module docstring)."""
    start, stop = window(prices, start, stop)
    state, _ = target_states(enter, exit_, start, stop - 1, long_short=fill.long_short)
    held = np.zeros(stop - start, dtype=np.int8)
    held[1:] = state[start : stop - 1]  # position during each bar, after its open
    changes = (np.flatnonzero(held[1:] != held[:-1]) + 1).tolist()

    o, cl = prices.open, prices.close
    slip = fill.slippage
    n = stop - start
    cash_at = np.empty(n)
    shares_at = np.zeros(n)
    fills: list[SimFill] = []
    cash, shares, last, entries = float(fill.cash), 0.0, 0, 0
    not_taken: list[int] = []
    bust: int | None = None

    def hold_until(j: int) -> bool:
        """Mark bars [last, j) with the current account; False when it goes bust on the way (only a
        short can: a long's equity is its cash, >= 0, plus shares at a positive price)."""
        nonlocal bust, cash, shares
        cash_at[last:j], shares_at[last:j] = cash, shares
        broke = np.flatnonzero(cash + shares * cl[start + last : start + j] <= 0)
        if len(broke) == 0:
            return True
        b = last + int(broke[0])
        if shares != 0:
            fills.append(SimFill(start + b, -shares, float(cl[start + b]), 0.0))
        bust, cash, shares = start + b, 0.0, 0.0
        cash_at[b:], shares_at[b:] = 0.0, 0.0
        return False

    for j in changes:
        if not hold_until(j):
            break
        last, t = j, start + j
        if shares > 0:
            price = float(sell_price(o[t], slip))
            fee = float(fees(shares, price, fill))
            cash = cash + shares * price - fee
            fills.append(SimFill(t, -shares, price, fee))
            shares = 0.0
        elif shares < 0:
            price = float(buy_price(o[t], slip))
            fee = float(fees(-shares, price, fill))
            cash = cash - (-shares * price + fee)
            fills.append(SimFill(t, -shares, price, fee))
            shares = 0.0
        if held[j] != 0:
            price = float(buy_price(o[t], slip) if held[j] > 0 else sell_price(o[t], slip))
            q = float(shares_for(cash, price, fill))
            if q > 0:
                fee = float(fees(q, price, fill))
                if held[j] > 0:
                    cash, shares = cash - (q * price + fee), q
                else:
                    cash, shares = cash + (q * price - fee), -q
                fills.append(SimFill(t, shares, price, fee))
                entries += 1
            else:
                not_taken.append(t)
    else:
        hold_until(n)
    equity = cash_at + shares_at * cl[start:stop]
    if bust is not None:
        equity[bust - start :] = 0.0
    return Simulation(start, stop, equity, cash_at, shares_at, fills, entries, bust, not_taken)
