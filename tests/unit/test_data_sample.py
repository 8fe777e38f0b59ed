"""The synthetic sample: deterministic, one bar per NYSE session, consistent OHLC, never after `end`."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.calendar import get_calendar
from tradebot.data import BAR_COLUMNS, BarSource, source_from_spec
from tradebot.data import sample as sample_module
from tradebot.data.sample import (
    SAMPLE_DEFAULT_AS_OF,
    SAMPLE_FIRST_SESSION,
    SAMPLE_LAST_SESSION,
    SAMPLE_SYMBOLS,
    UNKNOWN_SYMBOL,
    SampleSource,
)

# Fingerprints of the generated series (dates, OHLC in cents, volume). A change here means every
# machine's demo changes: only update them on purpose.
GOLDEN = {
    "SYN-A": "7e4045f1c612c5f0699deb47e28d16920aac99639d3ddd3a8f78dccef66e827e",
    "SYN-B": "3283a89f3b9fbc23f450f45ce97c4866f69ce2cc7e70487dec00956982c7114b",
    "SYN-C": "1fca55dee919b370ac0fada7a23cd20919f7d9dbf580f35da9becf9a6e8de563",
    "SYN-D": "a49b48cf6b291375cc0b95e3530202c41343105812d1f0ddfaf1938fd18cd1eb",
    "SYN-E": "3aafbcc944082596abf46c048a730f1f23c23ee72dce9f9ea5231e4b9dabe3bc",
}


def fingerprint(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(frame.index.strftime("%Y-%m-%d").str.cat(sep=",").encode())
    h.update(np.round(frame[["Open", "High", "Low", "Close"]].to_numpy() * 100).astype("<i8").tobytes())
    h.update(frame["Volume"].to_numpy().astype("<i8").tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def full() -> dict[str, pd.DataFrame]:
    result = SampleSource().load(list(SAMPLE_SYMBOLS), None, SAMPLE_LAST_SESSION)
    assert result.failures == {}
    return result.frames


def test_source_attributes() -> None:
    src = source_from_spec("sample")
    assert isinstance(src, SampleSource)
    assert isinstance(src, BarSource)
    assert src.name == "sample"
    assert src.synthetic is True
    assert src.default_symbols() == ["SYN-A", "SYN-B", "SYN-C", "SYN-D", "SYN-E"]


def test_constants_agree_with_the_calendar() -> None:
    cal = get_calendar()
    assert cal.is_session(SAMPLE_FIRST_SESSION) and cal.is_session(SAMPLE_LAST_SESSION)
    assert SAMPLE_DEFAULT_AS_OF == cal.previous_session(SAMPLE_LAST_SESSION) == date(2025, 12, 30)


def test_golden_fingerprints_and_values(full: dict[str, pd.DataFrame]) -> None:
    assert {s: fingerprint(f) for s, f in full.items()} == GOLDEN
    a = full["SYN-A"]
    assert a.iloc[0].tolist() == [50.92, 52.53, 50.89, 51.37, 51.37, 2964408.0]
    assert a.iloc[-1].tolist() == [73.83, 75.17, 73.39, 74.3, 74.3, 1698028.0]


def test_deterministic_across_calls_and_regeneration(full: dict[str, pd.DataFrame]) -> None:
    again = SampleSource().load(list(SAMPLE_SYMBOLS), None, SAMPLE_LAST_SESSION).frames
    for symbol in SAMPLE_SYMBOLS:
        pd.testing.assert_frame_equal(again[symbol], full[symbol])
    sample_module._full_series.cache_clear()
    sample_module._market.cache_clear()
    regenerated = SampleSource().load(list(SAMPLE_SYMBOLS), None, SAMPLE_LAST_SESSION).frames
    for symbol in SAMPLE_SYMBOLS:
        pd.testing.assert_frame_equal(regenerated[symbol], full[symbol])


def test_bars_convention_and_one_row_per_session(full: dict[str, pd.DataFrame]) -> None:
    sessions = pd.DatetimeIndex(
        pd.to_datetime(get_calendar().sessions(SAMPLE_FIRST_SESSION, SAMPLE_LAST_SESSION))
    )
    for frame in full.values():
        assert list(frame.columns) == list(BAR_COLUMNS)
        assert all(frame[c].dtype == np.float64 for c in BAR_COLUMNS)
        assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is None
        assert frame.index.name == "Date"
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        assert (frame.index == frame.index.normalize()).all()
        assert frame.index.equals(sessions)


def test_ohlc_consistent_positive_and_volume_integral(full: dict[str, pd.DataFrame]) -> None:
    for frame in full.values():
        assert not frame.isna().any().any()
        assert (frame[["Open", "High", "Low", "Close"]] > 0).all().all()
        assert (frame["Low"] <= frame[["Open", "Close"]].min(axis=1)).all()
        assert (frame["High"] >= frame[["Open", "Close"]].max(axis=1)).all()
        assert (frame["Adj Close"] == frame["Close"]).all()
        assert (frame["Volume"] > 0).all() and (frame["Volume"] == frame["Volume"].round()).all()
        cents = frame[["Open", "High", "Low", "Close"]] * 100
        assert np.allclose(cents, cents.round(), atol=1e-6)


def test_realistic_enough_for_a_trend_strategy(full: dict[str, pd.DataFrame]) -> None:
    rets = pd.DataFrame({s: np.log(f["Close"]).diff() for s, f in full.items()}).dropna()
    corr = rets.corr().to_numpy()[np.triu_indices(len(full), k=1)]
    assert (corr > 0.15).all() and (corr < 0.8).all()  # related, not identical
    for symbol in full:
        r = rets[symbol]
        assert 0.15 < r.std() * np.sqrt(252) < 0.45
        assert r.abs().autocorr(lag=1) > 0.05  # volatility clustering
        yearly = full[symbol]["Close"].resample("YE").last().pct_change().dropna()
        assert yearly.max() > 0.10 and yearly.min() < -0.05  # up and down regimes


@settings(max_examples=40, deadline=None)
@given(
    start_offset=st.one_of(st.none(), st.integers(min_value=-400, max_value=4500)),
    end_offset=st.integers(min_value=-400, max_value=4500),
)
def test_load_never_returns_data_outside_the_range(start_offset: int | None, end_offset: int) -> None:
    end = date(2015, 1, 1) + timedelta(days=end_offset)
    start = None if start_offset is None else date(2015, 1, 1) + timedelta(days=start_offset)
    result = SampleSource().load(["SYN-C"], start, end)
    if "SYN-C" in result.failures:
        if result.code("SYN-C") == "stale":  # the sample exists but ends before the range (issue 10)
            assert start is not None and start > SAMPLE_LAST_SESSION
            assert result.failures["SYN-C"].startswith(f"last bar {SAMPLE_LAST_SESSION}")
        else:
            assert result.failures["SYN-C"].startswith("no data")
        return
    frame = result.frames["SYN-C"]
    assert not frame.empty
    assert frame.index.max() <= pd.Timestamp(end)
    if start is not None:
        assert frame.index.min() >= pd.Timestamp(start)
    if SAMPLE_FIRST_SESSION <= end <= SAMPLE_LAST_SESSION:
        cal = get_calendar()
        last = end if cal.is_session(end) else cal.previous_session(end)
        assert frame.index.max() == pd.Timestamp(last)


def test_slices_are_copies() -> None:
    src = SampleSource()
    first = src.load(["SYN-A"], date(2024, 1, 1), date(2024, 1, 31)).frames["SYN-A"]
    original = first["Close"].iloc[0]
    first.loc[:, "Close"] = -1.0
    again = src.load(["SYN-A"], date(2024, 1, 1), date(2024, 1, 31)).frames["SYN-A"]
    assert again["Close"].iloc[0] == original


def test_unknown_symbol_and_empty_range() -> None:
    result = SampleSource().load(["SYN-A", "AAPL", "syn-b"], date(2024, 1, 1), date(2024, 1, 5))
    assert list(result.frames) == ["SYN-A"]
    assert result.failures["AAPL"] == UNKNOWN_SYMBOL == "unknown symbol: sample data has SYN-A..SYN-E"
    assert result.failures["syn-b"] == UNKNOWN_SYMBOL
    early = SampleSource().load(["SYN-A"], None, date(2014, 12, 31))
    assert early.frames == {} and early.failures["SYN-A"].startswith("no data")
    late = SampleSource().load(["SYN-A"], None, date(2026, 6, 1)).frames["SYN-A"]
    assert late.index[-1] == pd.Timestamp(SAMPLE_LAST_SESSION)
