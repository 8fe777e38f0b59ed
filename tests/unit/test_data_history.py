"""Incremental history: only bars newer than the store holds are requested; restatements, failures."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.market_fakes import FakeSource, session_bars
from tradebot.calendar import get_calendar
from tradebot.data import BAR_COLUMNS
from tradebot.data.archive import (
    DirectoryStore,
    decode_symbol_bars,
    encode_symbol_bars,
    save_history,
    update_history,
)
from tradebot.errors import InputValidationError

END = date(2024, 7, 5)
CAL = get_calendar()


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        self.writes: list[str] = []

    def read(self, symbol: str) -> pd.DataFrame | None:
        frame = self.frames.get(symbol)
        return None if frame is None else frame.copy()

    def write(self, symbol: str, frame: pd.DataFrame, source: str) -> None:
        self.writes.append(symbol)
        self.frames[symbol] = frame.copy()


def universe(n: int = 150) -> dict[str, pd.DataFrame]:
    return {s: session_bars(END, n, seed=i) for i, s in enumerate(["AAA", "BBB", "CCC"])}


def day(offset: int) -> date:
    """The session ``offset`` sessions before END (0: END)."""
    return CAL.sessions(date(2024, 1, 1), END)[-1 - offset]


def run(source: FakeSource, store: MemoryStore, up_to: date, start: date | None = date(2024, 1, 1)):
    result = update_history(source, store, sorted(source.frames), start, up_to, up_to=up_to, workers=1)
    save_history(store, result, source.name, workers=1)
    return result


def test_first_fetch_requests_from_start_and_stores_everything() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    result = run(source, store, day(5))
    assert source.calls == [(["AAA", "BBB", "CCC"], date(2024, 1, 1), day(5))]  # one batched request
    assert sorted(store.writes) == ["AAA", "BBB", "CCC"]
    for symbol, frame in source.frames.items():
        expected = frame.loc["2024-01-01" : pd.Timestamp(day(5))]
        pd.testing.assert_frame_equal(store.frames[symbol], expected)
        pd.testing.assert_frame_equal(result.frames[symbol], expected)
        assert result.updates[symbol].stored_last is None
        assert result.updates[symbol].new_bars == len(expected)
    assert result.requested == 3 and result.from_store == 0 and result.source_calls == 1


def test_up_to_date_symbols_are_not_requested() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(0))
    source.calls.clear()
    store.writes.clear()
    result = run(source, store, day(0))
    assert source.calls == [] and store.writes == []
    assert result.source_calls == 0 and result.new_bars == 0 and result.from_store == 3
    assert result.frames["AAA"].index[-1] == pd.Timestamp(day(0))


def test_next_day_requests_only_the_new_bar_with_two_bars_of_overlap() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(1))
    source.calls.clear()
    result = run(source, store, day(0))
    # one batched request for every symbol, from the second-to-last stored bar
    assert source.calls == [(["AAA", "BBB", "CCC"], day(2), day(0))]
    assert result.new_bars == 3 and all(u.new_bars == 1 for u in result.updates.values())
    for symbol, frame in source.frames.items():
        pd.testing.assert_frame_equal(store.frames[symbol], frame.loc["2024-01-01":])


def test_symbols_with_different_ends_are_grouped_by_start() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(3))
    store.frames["CCC"] = store.frames["CCC"].iloc[:-2]  # CCC is two sessions behind
    source.calls.clear()
    run(source, store, day(0))
    assert sorted((tuple(s), start) for s, start, _ in source.calls) == [
        (("AAA", "BBB"), day(4)),
        (("CCC",), day(6)),
    ]


def test_a_correction_of_the_last_stored_bar_is_taken() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(1))
    corrected = source.frames["AAA"].copy()
    corrected.loc[pd.Timestamp(day(1)), ["Close", "Adj Close", "High"]] += 0.5
    source.frames["AAA"] = corrected
    result = run(source, store, day(0))
    assert not result.updates["AAA"].restated and result.warnings == []
    assert (
        store.frames["AAA"].loc[pd.Timestamp(day(1)), "Close"] == corrected.loc[pd.Timestamp(day(1)), "Close"]
    )


def test_a_restated_history_is_refetched_and_replaced() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(1))
    # a 2:1 split effective on END: the provider halves every earlier price
    split = source.frames["BBB"].copy()
    before = split.index < pd.Timestamp(END)
    split.loc[before, ["Open", "High", "Low", "Close", "Adj Close"]] /= 2
    source.frames["BBB"] = split
    source.calls.clear()
    result = run(source, store, day(0))
    assert result.updates["BBB"].restated and not result.updates["AAA"].restated
    assert (["BBB"], date(2024, 1, 2), day(0)) in source.calls  # its whole stored range, once
    pd.testing.assert_frame_equal(store.frames["BBB"], split.loc["2024-01-01":])
    (warning,) = result.warnings
    assert warning.symbol == "BBB" and warning.reason == "history_restated"


def test_a_failed_fetch_keeps_the_stored_bars_with_a_warning() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(1))
    source.fail = {"AAA"}
    store.writes.clear()
    result = run(source, store, day(0))
    assert result.frames["AAA"].index[-1] == pd.Timestamp(day(1))  # stale: the quality gate will say so
    assert [(w.symbol, w.reason) for w in result.warnings] == [("AAA", "fetch_failed")]
    assert "ConnectionError" in result.warnings[0].detail
    assert "AAA" not in store.writes and "AAA" not in result.failures


def test_a_failed_first_fetch_is_a_failure() -> None:
    source, store = FakeSource(universe(), fail={"BBB"}), MemoryStore()
    result = run(source, store, day(0))
    assert result.failures == {"BBB": "download failed: ConnectionError: reset"}
    assert "BBB" not in store.frames and sorted(result.frames) == ["AAA", "CCC"]


def test_an_unreadable_stored_history_is_neither_used_nor_overwritten(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    (tmp_path / "AAA.csv").write_text("Date,Open\n2024-01-02,oops\n")
    source = FakeSource(universe())
    result = update_history(source, store, ["AAA", "BBB"], None, END, up_to=END, workers=1)
    save_history(store, result, source.name)
    assert result.failures["AAA"].startswith("archive unreadable:")
    assert all("AAA" not in symbols for symbols, _, _ in source.calls)
    assert (tmp_path / "AAA.csv").read_text() == "Date,Open\n2024-01-02,oops\n"
    assert (tmp_path / "BBB.csv").is_file()


def test_update_writes_nothing_until_saved() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    result = update_history(source, store, ["AAA"], None, END, up_to=END, workers=1)
    assert store.writes == [] and list(result.changed) == ["AAA"]


def test_frames_are_sliced_to_the_window_even_when_the_store_holds_more() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(0), start=None)
    result = update_history(source, store, ["AAA"], date(2024, 6, 1), day(3), up_to=day(3), workers=1)
    frame = result.frames["AAA"]
    assert frame.index[0] >= pd.Timestamp("2024-06-01") and frame.index[-1] == pd.Timestamp(day(3))
    assert source.calls[-1][2] == day(0)  # no request was needed for the older as-of


def test_directory_store_round_trip_and_atomic_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "new")
    frame = session_bars(END, 30)
    store.write("SPY", frame, "fake")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["SPY.csv"]  # no temporary file left
    pd.testing.assert_frame_equal(store.read("SPY"), frame)
    assert store.read("QQQ") is None


def test_symbol_bars_encoding_is_exact_deterministic_gzip_yahoo_csv() -> None:
    frame = session_bars(END, 50)
    frame.iloc[3, 0] = np.nan
    data = encode_symbol_bars(frame)
    assert data == encode_symbol_bars(frame)  # no timestamp in the gzip header
    text = gzip.decompress(data).decode()
    assert text.startswith("Date,Open,High,Low,Close,Adj Close,Volume\n")
    assert ",null," in text.splitlines()[4]
    back = decode_symbol_bars(data, "x")
    assert np.array_equal(back.to_numpy(), frame[list(BAR_COLUMNS)].to_numpy(), equal_nan=True)
    with pytest.raises(InputValidationError, match="gzip"):
        decode_symbol_bars(b"\x1f\x8b not gzip", "x")
    with pytest.raises(InputValidationError, match="empty"):
        decode_symbol_bars(gzip.compress(b""), "x")


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=119), min_size=1, max_size=6, unique=True))
def test_property_incremental_updates_equal_one_full_fetch(cuts: list[int]) -> None:
    """However the days are split into runs, the stored history is the source's history."""
    frames = universe(120)
    source, store = FakeSource(frames), MemoryStore()
    sessions = frames["AAA"].index
    for cut in sorted(cuts):
        run(source, store, sessions[cut].date(), start=None)
    run(source, store, END, start=None)
    for symbol, frame in frames.items():
        pd.testing.assert_frame_equal(store.frames[symbol], frame)
    # after the first run, no request starts earlier than two bars before the stored end
    for _, start, _ in source.calls[1:]:
        assert start is not None and start >= sessions[sorted(cuts)[0] - 1].date()


def test_an_as_of_before_the_stored_history_is_no_data() -> None:
    source, store = FakeSource(universe()), MemoryStore()
    run(source, store, day(0), start=date(2024, 6, 1))
    result = update_history(
        source, store, ["AAA"], date(2024, 1, 1), date(2024, 5, 1), up_to=date(2024, 5, 1)
    )
    assert result.frames == {}
    assert (
        result.failures["AAA"]
        == "no data: the stored bars (2024-06-03..2024-07-05) have none in 2024-01-01..2024-05-01"
    )


class SplittingSource(FakeSource):
    """A FakeSource that also reports a split event of BBB on END with the bars it returns (as yfinance
    does with ``actions=True``)."""

    def load(self, symbols, start, end):  # type: ignore[no-untyped-def]
        from tradebot.contracts import SplitEvent

        result = super().load(symbols, start, end)
        if "BBB" in result.frames and (start is None or start <= END <= end):
            result.splits.append(SplitEvent(symbol="BBB", ex_date=END, ratio=2.0))
        return result


def test_the_sources_split_events_reach_the_runs_quality_report() -> None:
    from tradebot.data.universe import fetch_bars

    # BBB splits 2:1 on END: the source restates its history and reports the event with END's bar
    source, store = SplittingSource(universe()), MemoryStore()
    run(source, store, day(1))
    split = source.frames["BBB"].copy()
    split.loc[split.index < pd.Timestamp(END), ["Open", "High", "Low", "Close", "Adj Close"]] /= 2
    source.frames["BBB"] = split
    # the run of END: the archive's update asks for the new bars, sees the restatement, refetches BBB's
    # history; the event is kept once and reaches the run's quality report
    fetched = fetch_bars(
        source, ["AAA", "BBB", "CCC"], END, CAL, run_id="r", start=date(2024, 1, 1), archive=store
    )
    assert fetched.history is not None and fetched.history.updates["BBB"].restated
    assert [(e.symbol, e.ex_date, e.ratio) for e in fetched.history.splits] == [("BBB", END, 2.0)]
    assert [(e.symbol, e.ex_date, e.ratio) for e in fetched.report.splits] == [("BBB", END, 2.0)]
