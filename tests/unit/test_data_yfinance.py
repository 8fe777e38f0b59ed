"""yfinance source with a fake download shaped like yfinance 1.x output: no network, no real sleeping."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.multi
from yfinance.exceptions import YFRateLimitError

from tradebot.data import BAR_COLUMNS
from tradebot.data import yfinance_source as yfs
from tradebot.data.yfinance_source import YFinanceSource, extract_symbol, is_rate_limit, yfinance_download
from tradebot.errors import RetryableError

DATES = ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]


def ticker_frame(symbol: str, dates: Sequence[str] = DATES, tz: str | None = None) -> pd.DataFrame:
    """One ticker as yfinance's Ticker.history(auto_adjust=False, actions=False) returns it."""
    base = 100.0 + (sum(map(ord, symbol)) % 50)
    close = base + np.arange(len(dates), dtype=float)
    index = pd.DatetimeIndex(pd.to_datetime(list(dates)), name="Date")
    if tz:
        index = index.tz_localize(tz)
    return pd.DataFrame(
        {
            "Open": close - 0.5,
            "High": close + 1.0,
            "Low": close - 1.0,
            "Close": close,
            "Adj Close": close * 0.99,
            "Volume": np.arange(len(dates), dtype=np.int64) * 1000 + 5000,
        },
        index=index,
    )


def combined(per_ticker: dict[str, pd.DataFrame | None], group_by: str = "column") -> pd.DataFrame:
    """What yfinance.download does with the per-ticker frames: union of dates, NaN where a ticker has no
    row, MultiIndex columns (Ticker, Price) swapped to (Price, Ticker) for group_by="column"."""
    frames = {t: (f if f is not None and not f.empty else None) for t, f in per_ticker.items()}
    index: pd.DatetimeIndex | None = None
    for f in frames.values():
        if f is not None:
            index = f.index if index is None else index.union(f.index)
    index = index if index is not None else pd.DatetimeIndex([], name="Date")
    empty = pd.DataFrame({c: np.nan for c in BAR_COLUMNS}, index=pd.DatetimeIndex([], name="Date"))
    parts = [(f if f is not None else empty).reindex(index) for f in frames.values()]
    data = pd.concat(parts, axis=1, keys=list(frames), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    return data


class FakeDownload:
    """Records every call; answers from `data` (symbol -> frame or None) after `fail_first` errors."""

    def __init__(
        self,
        data: dict[str, pd.DataFrame | None],
        *,
        fail_first: int = 0,
        error: Exception | None = None,
        shape: str = "column",
        raise_for: set[str] | None = None,
        raise_error: Exception | None = None,
        transient_first: int = 0,
    ) -> None:
        self.data = data
        self.fail_first = fail_first
        self.error = error or YFRateLimitError()
        self.shape = shape
        self.raise_for = raise_for or set()
        self.raise_error = raise_error or ConnectionError("connection reset by peer")
        self.transient_first = transient_first
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        self.calls.append((list(tickers), kwargs))
        if len(self.calls) <= self.fail_first:
            raise self.error
        if self.raise_for & set(tickers):
            raise self.raise_error
        if len(self.calls) <= self.fail_first + self.transient_first:
            raise TimeoutError("read timed out")
        per = {t.upper(): self.data.get(t) for t in tickers}
        if self.shape == "flat":  # multi_level_index=False with one ticker
            only = next(iter(per.values()))
            return only if only is not None else pd.DataFrame()
        return combined(per, group_by=self.shape)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def source(download: FakeDownload, **kwargs: Any) -> tuple[YFinanceSource, Sleeps]:
    sleeps = Sleeps()
    return YFinanceSource(download=download, sleep=sleeps, rng=random.Random(7), **kwargs), sleeps


def test_explicit_download_arguments_and_inclusive_end() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")})
    src, _ = source(fake)
    result = src.load(["AAA"], date(2024, 3, 7), date(2024, 3, 11))
    (tickers, kwargs), *_ = fake.calls
    assert tickers == ["AAA"]
    assert kwargs["start"] == "2024-03-07"
    assert kwargs["end"] == "2024-03-12"  # yfinance's end is exclusive
    assert "period" not in kwargs
    for name, value in {
        "auto_adjust": False,
        "actions": True,
        "group_by": "column",
        "progress": False,
        "threads": False,
        "interval": "1d",
        "multi_level_index": True,
    }.items():
        assert kwargs[name] == value, name
    frame = result.frames["AAA"]
    assert frame.index[-1] == pd.Timestamp("2024-03-11")  # the fake's 03-12 row is dropped: never after end
    assert list(frame.columns) == list(BAR_COLUMNS)
    assert all(frame[c].dtype == np.float64 for c in BAR_COLUMNS)
    assert frame.index.name == "Date" and frame.index.tz is None


def test_no_start_asks_for_max_history() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")})
    source(fake)[0].load(["AAA"], None, date(2024, 3, 12))
    kwargs = fake.calls[0][1]
    assert kwargs["period"] == "max" and "start" not in kwargs


def test_several_tickers_with_a_failed_and_a_shorter_one() -> None:
    fake = FakeDownload(
        {"AAA": ticker_frame("AAA"), "BBB": ticker_frame("BBB", DATES[2:]), "DEAD": None},
    )
    result = source(fake)[0].load(["AAA", "BBB", "DEAD"], date(2024, 3, 1), date(2024, 3, 12))
    assert len(fake.calls) == 1
    assert set(result.frames) == {"AAA", "BBB"}
    assert result.failures == {"DEAD": "no data"}
    assert len(result.frames["AAA"]) == 4
    # BBB's NaN rows (dates only AAA has) are gone, not reported as bad data
    assert result.frames["BBB"].index.tolist() == list(pd.to_datetime(DATES[2:]))
    assert not result.frames["BBB"].isna().any().any()
    assert result.frames["AAA"]["Adj Close"].iloc[0] == pytest.approx(
        result.frames["AAA"]["Close"].iloc[0] * 0.99
    )


def test_all_nan_close_is_no_data() -> None:
    frame = ticker_frame("AAA")
    frame["Close"] = np.nan
    result = source(FakeDownload({"AAA": frame, "BBB": ticker_frame("BBB")}))[0].load(
        ["AAA", "BBB"], None, date(2024, 3, 12)
    )
    assert result.failures == {"AAA": "no data"} and list(result.frames) == ["BBB"]


@pytest.mark.parametrize("shape", ["column", "ticker", "flat"])
def test_single_ticker_shapes(shape: str) -> None:
    result = source(FakeDownload({"AAA": ticker_frame("AAA")}, shape=shape))[0].load(
        ["AAA"], None, date(2024, 3, 12)
    )
    assert result.failures == {}
    assert result.frames["AAA"]["Close"].tolist() == ticker_frame("AAA")["Close"].tolist()


def test_group_by_ticker_layout_for_several() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA"), "BBB": ticker_frame("BBB")}, shape="ticker")
    result = source(fake)[0].load(["AAA", "BBB"], None, date(2024, 3, 12))
    assert set(result.frames) == {"AAA", "BBB"}
    assert result.frames["BBB"]["Close"].tolist() == ticker_frame("BBB")["Close"].tolist()


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo", "UTC"])
def test_tz_aware_index_keeps_the_local_date(tz: str) -> None:
    result = source(FakeDownload({"AAA": ticker_frame("AAA", tz=tz)}))[0].load(
        ["AAA"], None, date(2024, 3, 12)
    )
    frame = result.frames["AAA"]
    assert frame.index.tz is None
    assert frame.index.tolist() == list(pd.to_datetime(DATES))


def test_empty_result() -> None:
    fake = FakeDownload({})
    fake_empty = source(fake)[0].load(["AAA", "BBB"], None, date(2024, 3, 12))
    assert fake_empty.frames == {} and fake_empty.failures == {"AAA": "no data", "BBB": "no data"}


def test_batches_of_fifty() -> None:
    symbols = [f"S{i:03d}" for i in range(120)]
    fake = FakeDownload({s: ticker_frame(s) for s in symbols})
    result = source(fake)[0].load(symbols, None, date(2024, 3, 12))
    assert [len(t) for t, _ in fake.calls] == [50, 50, 20]
    assert [t for batch, _ in fake.calls for t in batch] == symbols
    assert len(result.frames) == 120 and result.failures == {}


def test_rate_limit_is_retried_with_backoff_and_jitter() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")}, fail_first=2)
    src, sleeps = source(fake, base_delay=2.0, max_delay=30.0)
    result = src.load(["AAA"], None, date(2024, 3, 12))
    assert list(result.frames) == ["AAA"]
    assert len(fake.calls) == 3
    assert len(sleeps.delays) == 2
    assert 1.0 <= sleeps.delays[0] <= 2.0 and 2.0 <= sleeps.delays[1] <= 4.0  # cap/2 + U(0, cap/2)
    assert len(set(sleeps.delays)) == 2


def test_backoff_is_capped() -> None:
    src, _ = source(FakeDownload({}), base_delay=2.0, max_delay=10.0)
    assert all(5.0 <= src.backoff(n) <= 10.0 for n in range(4, 20))


def test_still_rate_limited_raises_retryable_error() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")}, fail_first=99)
    src, sleeps = source(fake, max_attempts=4)
    with pytest.raises(RetryableError, match="rate limited after 4 attempts") as info:
        src.load(["AAA"], None, date(2024, 3, 12))
    assert isinstance(info.value.__cause__, YFRateLimitError)
    assert len(fake.calls) == 4 and len(sleeps.delays) == 3


class HTTPError(OSError):  # requests' and curl_cffi's HTTP errors are OSErrors
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = SimpleNamespace(status_code=status)


def test_http_429_from_requests_or_curl_is_a_rate_limit() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")}, fail_first=1, error=HTTPError(429))
    src, sleeps = source(fake)
    assert list(src.load(["AAA"], None, date(2024, 3, 12)).frames) == ["AAA"]
    assert len(sleeps.delays) == 1
    wrapped = RuntimeError("download failed")
    wrapped.__cause__ = HTTPError(429)
    assert is_rate_limit(wrapped)
    assert not is_rate_limit(HTTPError(500))
    assert not is_rate_limit(ValueError("Too Many Requests"))  # never by message text


def test_a_persistent_network_error_raises_retryable_error_after_the_backoff() -> None:
    # issue 10: a network failure used to fail its batch's symbols ("download failed"), so the run went on
    # without them or failed at once (UnknownSymbolError); an outage is now retried by the state machine
    symbols = ["AAA", "BBB", "CCC"]
    fake = FakeDownload({s: ticker_frame(s) for s in symbols}, raise_for={"CCC"})
    src, sleeps = source(fake, batch_size=2, max_attempts=3)
    with pytest.raises(RetryableError, match=r"network failure \(ConnectionError: connection reset") as info:
        src.load(symbols, None, date(2024, 3, 12))
    assert "after 3 attempts (symbols CCC..CCC)" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert [t for t, _ in fake.calls] == [["AAA", "BBB"], ["CCC"], ["CCC"], ["CCC"]]
    assert len(sleeps.delays) == 2


def test_a_transient_network_error_is_retried() -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")}, transient_first=2)
    src, sleeps = source(fake)
    result = src.load(["AAA"], None, date(2024, 3, 12))
    assert list(result.frames) == ["AAA"] and result.failures == {}
    assert len(fake.calls) == 3 and len(sleeps.delays) == 2


@pytest.mark.parametrize("error", [ValueError("bad frame"), HTTPError(404)])
def test_other_errors_fail_their_batch_without_retrying(error: Exception) -> None:
    fake = FakeDownload({"AAA": ticker_frame("AAA")}, raise_for={"AAA"}, raise_error=error)
    src, sleeps = source(fake)
    result = src.load(["AAA"], None, date(2024, 3, 12))
    assert result.frames == {} and result.failures["AAA"].startswith("download failed:")
    assert len(fake.calls) == 1 and sleeps.delays == []


def test_is_transient() -> None:
    assert yfs.is_transient(ConnectionError("reset")) and yfs.is_transient(TimeoutError())
    assert yfs.is_transient(HTTPError(503))
    assert not yfs.is_transient(HTTPError(404)) and not yfs.is_transient(ValueError("x"))


def test_extract_symbol_rejects_unknown_layouts() -> None:
    flat = ticker_frame("AAA")
    assert extract_symbol(flat, "AAA", single=False)[0] is None
    assert extract_symbol(None, "AAA", single=True) == (None, "no data")


# --- the real yfinance.download, with only the network (Ticker) replaced ------------------------------


class FakeTicker:
    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._price_history = None

    def history(self, **kwargs: Any) -> pd.DataFrame:
        if self.ticker == "LIMITED":
            raise YFRateLimitError()
        if self.ticker == "GONE":
            return yfinance.utils.empty_df()
        if self.ticker == "BROKEN":
            raise ConnectionError("connection reset by peer")
        return ticker_frame(self.ticker, tz="America/New_York")


def test_real_yfinance_download_assembly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    src = YFinanceSource(download=yfinance_download, sleep=Sleeps(), rng=random.Random(1))
    result = src.load(["AAA", "GONE", "BBB"], date(2024, 3, 1), date(2024, 3, 12))
    assert set(result.frames) == {"AAA", "BBB"}
    assert result.failures == {"GONE": "no data"}  # Yahoo answered: nothing for this ticker
    assert result.frames["AAA"].index.tolist() == list(pd.to_datetime(DATES))
    assert result.frames["AAA"]["Volume"].tolist() == [5000.0, 6000.0, 7000.0, 8000.0]


def test_a_network_error_yfinance_swallowed_is_retried_then_retryable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # issue 10: yfinance logs "['BROKEN']: ConnectionError('connection reset by peer')" and returns an
    # empty column; that used to become "no data: ConnectionError(...)" for the ticker
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    sleeps = Sleeps()
    src = YFinanceSource(download=yfinance_download, sleep=sleeps, rng=random.Random(1), max_attempts=3)
    with pytest.raises(RetryableError, match="network failure") as info:
        src.load(["AAA", "GONE", "BROKEN"], date(2024, 3, 1), date(2024, 3, 12))
    assert isinstance(info.value.__cause__, yfs.YahooNetworkError)
    assert info.value.__cause__.failures == {"BROKEN": "ConnectionError('connection reset by peer')"}
    assert len(sleeps.delays) == 2  # the README's backoff: attempts 1..3, then the state machine's Retry


class FlakyTicker(FakeTicker):
    calls = 0

    def history(self, **kwargs: Any) -> pd.DataFrame:
        FlakyTicker.calls += 1
        if FlakyTicker.calls == 1:
            raise TimeoutError("read timed out")
        return super().history(**kwargs)


def test_a_transient_network_error_yfinance_swallowed_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    FlakyTicker.calls = 0
    monkeypatch.setattr(yfinance.multi, "Ticker", FlakyTicker)
    sleeps = Sleeps()
    src = YFinanceSource(download=yfinance_download, sleep=sleeps, rng=random.Random(1))
    result = src.load(["AAA"], date(2024, 3, 1), date(2024, 3, 12))
    assert list(result.frames) == ["AAA"] and result.failures == {} and len(sleeps.delays) == 1


def test_a_dns_failure_at_the_transport_is_a_network_failure_not_no_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real yfinance.download and Ticker.history, with only the HTTP transport failing: yfinance 1.x
    # logs "possibly delisted; no timezone found" for the ticker; the transport's exception says otherwise.
    import yfinance.cache
    from curl_cffi import requests as curl

    urls: list[str] = []

    def unreachable(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        urls.append(url)
        raise curl.exceptions.DNSError(
            "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"
        )

    monkeypatch.setattr(curl.Session, "request", unreachable)
    monkeypatch.setattr(yfinance.cache, "get_tz_cache", lambda: yfinance.cache._TzCacheDummy())
    monkeypatch.setattr(yfinance.multi, "Ticker", yfinance.Ticker)
    with pytest.raises(yfs.YahooNetworkError) as info:
        yfinance_download(["SPY"], start="2024-03-01", end="2024-03-13", progress=False, threads=False)
    assert set(info.value.failures) == {"SPY"} and "DNSError" in info.value.failures["SPY"]
    assert any("/finance/chart/SPY" in u for u in urls)  # the request went through the recording session
    sleeps = Sleeps()
    src = YFinanceSource(download=yfinance_download, sleep=sleeps, rng=random.Random(3), max_attempts=2)
    with pytest.raises(RetryableError, match="network failure"):
        src.load(["SPY"], date(2024, 3, 1), date(2024, 3, 12))
    assert len(sleeps.delays) == 1


def test_transport_recording_by_ticker() -> None:
    class Response:
        def __init__(self, status: int) -> None:
            self.status_code = status

    class Session:
        def __init__(self) -> None:
            self.answers: dict[str, Any] = {}

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            answer = self.answers[url]
            if isinstance(answer, Exception):
                raise answer
            return answer

    transport = yfs._Transport()
    session = transport.wrap(Session())
    base = "https://query2.finance.yahoo.com"
    session.answers = {
        f"{base}/v8/finance/chart/BRK-B": ConnectionError("reset"),
        f"{base}/v8/finance/chart/SPY": Response(503),
        f"{base}/v8/finance/chart/GONE": Response(404),
        f"{base}/v10/finance/quoteSummary/QQQ": TimeoutError("timed out"),
        "https://fc.yahoo.com": ConnectionError("cookie host down"),
        f"{base}/v8/finance/chart/BAD": ValueError("not a network error"),
    }
    for url in session.answers:
        with contextlib.suppress(Exception):
            session.request(method="GET", url=url)
    assert transport.failures == {
        "BRK-B": "ConnectionError: reset",
        "SPY": "HTTP 503",
        "QQQ": "TimeoutError: timed out",
    }


@pytest.mark.parametrize(
    ("reason", "network"),
    [
        ("ConnectionError('connection reset by peer')", True),
        ("curl_cffi.requests.exceptions.DNSError('Could not resolve host')", True),
        ("ReadTimeout(ReadTimeoutError(...))", True),
        ("YFTzMissingError('possibly delisted; no timezone found')", False),
        ("possibly delisted; no price data found  (1d 2024-03-01 -> 2024-03-13)", False),
        ("YFPricesMissingError('Connection reset mentioned in a message')", False),  # never by message
    ],
)
def test_is_network_reason_by_class_name(reason: str, network: bool) -> None:
    assert yfs.is_network_reason(reason) is network


def test_duplicate_dates_in_yahoos_answer() -> None:
    frame = ticker_frame("AAA")
    identical = pd.concat([frame, frame.iloc[[-1]]])
    conflicting = pd.concat([frame, frame.iloc[[-1]] * 1.1])
    result = source(FakeDownload({"AAA": identical, "BBB": conflicting}, shape="ticker"))[0].load(
        ["AAA", "BBB"], None, date(2024, 3, 12)
    )
    assert list(result.frames) == ["AAA"] and len(result.frames["AAA"]) == 4
    assert [(w.symbol, w.reason) for w in result.warnings] == [("AAA", "identical_duplicate_dropped")]
    assert result.code("BBB") == "duplicate_dates" and "2024-03-12" in result.failures["BBB"]


def test_rate_limit_swallowed_by_yfinance_is_raised_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    caplog.set_level(logging.CRITICAL, logger="yfinance")
    with pytest.raises(YFRateLimitError):
        yfinance_download(
            ["AAA", "LIMITED"], start="2024-03-01", end="2024-03-13", progress=False, threads=False
        )
    sleeps = Sleeps()
    src = YFinanceSource(download=yfinance_download, sleep=sleeps, rng=random.Random(1), max_attempts=3)
    with pytest.raises(RetryableError):
        src.load(["AAA", "LIMITED"], date(2024, 3, 1), date(2024, 3, 12))
    assert len(sleeps.delays) == 2


def test_ticker_errors_parses_yfinance_log_lines() -> None:
    assert yfs.ticker_errors(
        [
            "\n2 Failed downloads:",
            "['AAA', 'bbb']: YFTzMissingError('possibly delisted')",
            "['x': oops",
            "[1]",
        ]
    ) == {"AAA": "YFTzMissingError('possibly delisted')", "BBB": "YFTzMissingError('possibly delisted')"}


def test_cache_location_is_set_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    calls: list[str] = []
    monkeypatch.setattr(yfs, "_tz_cache_dir", None)
    monkeypatch.setattr(yfinance, "set_tz_cache_location", calls.append)
    assert yfs.configure_yfinance_cache(str(tmp_path / "yf")) == str(tmp_path / "yf")
    assert yfs.configure_yfinance_cache(str(tmp_path / "other")) == str(tmp_path / "yf")
    assert calls == [str(tmp_path / "yf")] and (tmp_path / "yf").is_dir()


class SplittingTicker(FakeTicker):
    """AAA split 4:1 on 2024-03-11: what Yahoo returns with ``actions=True`` (a "Stock Splits" column,
    0 on the other days, and "Dividends")."""

    def history(self, **kwargs: Any) -> pd.DataFrame:
        frame = super().history(**kwargs)
        if self.ticker == "AAA" and not frame.empty:
            frame = frame.copy()
            frame["Dividends"] = 0.0
            frame["Stock Splits"] = [4.0 if str(d.date()) == "2024-03-11" else 0.0 for d in frame.index]
        return frame


def test_split_events_come_with_the_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance.multi, "Ticker", SplittingTicker)
    src = YFinanceSource(download=yfinance_download, sleep=Sleeps(), rng=random.Random(1))
    result = src.load(["AAA", "BBB"], date(2024, 3, 1), date(2024, 3, 12))
    assert [(e.symbol, e.ex_date, e.ratio) for e in result.splits] == [("AAA", date(2024, 3, 11), 4.0)]
    assert list(result.frames["AAA"].columns) == list(BAR_COLUMNS)  # the actions are not bars
    # an event outside the requested range is not reported
    assert src.load(["AAA"], date(2024, 3, 1), date(2024, 3, 8)).splits == []
