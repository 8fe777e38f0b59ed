"""The registered strategies: indicators against independent loops, signals, grid blocks, warm-up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.test_strategy_support import bars_from, make_bars
from tradebot.errors import DataQualityError, InputValidationError
from tradebot.strategy import backtest, expand_grid, get_strategy, latest_signal, strategy_names, to_prices
from tradebot.strategy import indicators as ind
from tradebot.strategy.base import table_row

ALL = [
    "bollinger_reversion",
    "donchian_breakout",
    "ema_crossover",
    "rsi_reversion",
    "sma_crossover",
    "ts_momentum",
]


def test_the_registry_has_the_six_strategies_with_valid_defaults() -> None:
    assert strategy_names() == ALL
    for name in ALL:
        s = get_strategy(name)
        table = expand_grid(s, None)
        assert len(next(iter(table.values()))) >= 100, name  # a real grid
        s.parse_params(s.default_params.as_dict())
        assert s.description


# --- indicators, each against a plain loop ----------------------------------------------------------------


PRICES = to_prices(make_bars(300, seed=8, vol=0.02))
CLOSE = PRICES.close


def test_ema_is_the_recursion_seeded_with_the_first_close() -> None:
    n, a = 10, 2 / 11
    ref = [CLOSE[0]]
    for c in CLOSE[1:]:
        ref.append(a * c + (1 - a) * ref[-1])
    got = ind.ema(PRICES, n)
    assert np.isnan(got[: n - 1]).all()
    np.testing.assert_allclose(got[n - 1 :], ref[n - 1 :], rtol=1e-12)


def test_rsi_is_wilders() -> None:
    n = 14
    gain = loss = None
    ref = [math.nan] * len(CLOSE)
    for t in range(1, len(CLOSE)):
        d = CLOSE[t] - CLOSE[t - 1]
        g, lo = max(d, 0.0), max(-d, 0.0)
        gain = g if gain is None else gain + (g - gain) / n
        loss = lo if loss is None else loss + (lo - loss) / n
        if t >= n:
            ref[t] = 100.0 - 100.0 / (1.0 + gain / loss)
    got = ind.rsi(PRICES, n)
    assert np.isnan(got[:n]).all()
    np.testing.assert_allclose(got[n:], ref[n:], rtol=1e-10)
    flat = to_prices(bars_from([10.0] * 20))
    assert (ind.rsi(flat, 5)[5:] == 50.0).all()  # no change at all
    rising = to_prices(bars_from([10.0 + t for t in range(20)]))
    assert (ind.rsi(rising, 5)[5:] == 100.0).all()  # no loss


def test_bollinger_z_uses_the_population_deviation() -> None:
    n = 20
    got = ind.bollinger_z(PRICES, n)
    for t in (n - 1, 100, 299):
        window = CLOSE[t - n + 1 : t + 1]
        assert got[t] == pytest.approx((CLOSE[t] - window.mean()) / window.std(ddof=0), rel=1e-9)
    assert np.isnan(got[: n - 1]).all()
    flat = to_prices(bars_from([10.0] * 30))
    assert (ind.bollinger_z(flat, 5)[4:] == 0.0).all()


def test_donchian_channels_exclude_the_current_bar() -> None:
    hi, lo = ind.donchian_high(PRICES, 20), ind.donchian_low(PRICES, 10)
    assert np.isnan(hi[:20]).all() and np.isnan(lo[:10]).all()
    for t in (20, 150, 299):
        assert hi[t] == PRICES.high[t - 20 : t].max()
    for t in (10, 150, 299):
        assert lo[t] == PRICES.low[t - 10 : t].min()


def test_momentum() -> None:
    got = ind.momentum(PRICES, 30)
    assert np.isnan(got[:30]).all()
    assert got[200] == pytest.approx(CLOSE[200] / CLOSE[170] - 1)


# --- signals ---------------------------------------------------------------------------------------------


def test_rsi_reversion_levels() -> None:
    s = get_strategy("rsi_reversion")
    p = s.parse_params({"period": 5, "lower": 30, "upper": 70})
    enter, exit_ = s.signals(PRICES, p)
    rsi = ind.rsi(PRICES, 5)
    assert (enter == (rsi < 30)).all() and (exit_ == (rsi > 70)).all()
    assert enter.any() and exit_.any() and not (enter & exit_).any()
    with pytest.raises(InputValidationError, match="lower"):
        s.parse_params({"period": 5, "lower": 70, "upper": 30})


def test_bollinger_reversion_enters_below_the_band_and_exits_above_the_mean() -> None:
    closes = [100.0] * 10 + [100.0, 101.0, 99.0, 100.0, 90.0, 95.0, 99.0, 101.0, 102.0]
    bars = bars_from(closes)
    s = get_strategy("bollinger_reversion")
    # 5-bar z-scores: bar 12 (99 vs 100,100,100,101): -1.58; bar 14 (90 vs mean 98, std 4.05): -1.98;
    # bar 15 (95 vs mean 97): < 0; bar 16 (99 vs mean 96.6): > 0
    enter, exit_ = s.signals(to_prices(bars), s.parse_params({"window": 5, "k": 1.9}))
    assert np.flatnonzero(enter).tolist() == [14]
    assert next(t for t in np.flatnonzero(exit_).tolist() if t > 14) == 16
    enter, _ = s.signals(to_prices(bars), s.parse_params({"window": 5, "k": 1.5}))
    assert np.flatnonzero(enter).tolist() == [12, 14]
    [trade] = backtest(bars, "bollinger_reversion", {"window": 5, "k": 1.9}, cash=1000).trades
    assert trade.entry_time == bars.index[15] and trade.exit_time == bars.index[17]


def test_donchian_breakout_enters_on_a_new_high_and_exits_on_a_new_low() -> None:
    closes = [10.0, 11.0, 10.5, 10.8, 12.0, 12.5, 11.0, 10.0, 9.0, 9.5]
    bars = bars_from(closes)  # open = previous close, high/low = max/min(open, close)
    s = get_strategy("donchian_breakout")
    enter, exit_ = s.signals(to_prices(bars), s.parse_params({"entry": 3, "exit": 2}))
    # bar 4: close 12 > max high of bars 1..3 (11); bar 5: 12.5 > 12
    assert np.flatnonzero(enter).tolist() == [4, 5]
    # bar 6: 11 > min low of bars 4..5 (10.8); bar 7: 10 < 11; bar 8: 9 < 10; bar 9: 9.5 > 9
    assert np.flatnonzero(exit_).tolist() == [7, 8]


def test_ts_momentum_band_is_a_dead_zone() -> None:
    closes = [100.0, 100.0, 103.0, 101.0, 99.0, 97.0, 99.5]
    s = get_strategy("ts_momentum")
    enter, exit_ = s.signals(to_prices(bars_from(closes)), s.parse_params({"lookback": 2, "band": 0.02}))
    # 2-bar returns: -, -, +3%, +1%, -3.9%, -4.0%, +0.5%
    assert np.flatnonzero(enter).tolist() == [2]
    assert np.flatnonzero(exit_).tolist() == [4, 5]


def test_ema_crossover_explains_itself() -> None:
    closes = [100.0 - t for t in range(40)] + [60.0 + 2 * t for t in range(1, 30)]
    weight, reason = latest_signal(bars_from(closes), "ema_crossover", {"fast": 5, "slow": 20})
    assert weight == 1.0 and reason.startswith("EMA(5)=") and "long since" in reason


@pytest.mark.parametrize("name", ALL)
def test_vectorized_blocks_equal_one_set_signals(name: str) -> None:
    s = get_strategy(name)
    table = expand_grid(s, None)
    start, stop = 40, 260
    seen = 0
    for blk in s.signal_blocks(PRICES, table, start, stop):
        for k, row in enumerate(blk.rows):
            enter, exit_ = s.signals(PRICES, s.parse_params(table_row(table, int(row))))
            cols = np.arange(blk.signal.shape[1]) + blk.t0
            keep = (cols >= start) & (cols < stop)
            want = (enter | exit_)[cols[keep]]
            assert (blk.signal[k][keep] == want).all(), (name, row)
            assert (blk.enter[k][keep][want] == enter[cols[keep]][want]).all(), (name, row)
            seen += 1
    assert seen == len(next(iter(table.values())))  # every set exactly once


@pytest.mark.parametrize("name", ALL)
def test_min_bars_is_enough_and_one_less_is_not(name: str) -> None:
    s = get_strategy(name)
    p = s.default_params
    need = s.min_bars(p)
    bars = make_bars(need, seed=5)
    latest_signal(bars, name, p)
    backtest(bars, name, p)
    with pytest.raises(DataQualityError, match=f"needs at least {need} bars"):
        backtest(bars.iloc[:-1], name, p)
