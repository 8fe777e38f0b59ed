"""FetchMarketData against the emulated stack with Yahoo faked at yfinance's network boundary:
the incremental archive, the quality report in S3, the failure threshold, partial sessions."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from tests.conftest import aws_state
from tests.market_fakes import install_fake_yahoo, session_bars, spy_until, write_spy
from tradebot.clock import FixedClock
from tradebot.contracts import FetchEvent, PipelineRequest
from tradebot.errors import DataQualityError, InputValidationError, RetryableError
from tradebot.pipeline.fetch import fetch_market_data
from tradebot.pipeline.runtime import Runtime
from tradebot.settings import get_settings
from tradebot_local.emulator import LambdaContext
from tradebot_local.handlers import function_folders, load_handler

SYMBOLS = ["AAA", "BBB", "CCC"]
D1, D2 = date(2024, 7, 3), date(2024, 7, 5)  # two sessions around the 4 July holiday


def fetch(run_id: str, **request: Any) -> dict[str, Any]:
    handler = load_handler(function_folders()["fetch_market_data"])
    event = {"run_id": run_id, "request": {"source": "yfinance", "symbols": SYMBOLS, **request}}
    return handler(event, LambdaContext(function_name="fetch_market_data"))  # type: ignore[no-any-return]


def s3_json(pointer: dict[str, str]) -> Any:
    body = boto3.client("s3").get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
    return json.loads(body)


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    frames = {s: session_bars(D2, 300, seed=i) for i, s in enumerate(SYMBOLS)}
    return install_fake_yahoo(monkeypatch, tmp_path, frames)


def test_live_source_is_archived_then_fetched_incrementally(stack, yahoo):
    # Given nothing archived, when the first run fetches D1
    first = fetch("run-1", as_of=D1.isoformat())
    # then every symbol was downloaded from the lookback start and archived, one object per symbol
    assert first["tradable"] and first["symbols"] == len(SYMBOLS) and first["source"] == "yfinance"
    assert s3_json(first["quality"])["ok"] == SYMBOLS
    assert sorted(s for s, _ in yahoo.downloads()) == SYMBOLS
    assert all(start == "2021-07-04" for _, start in yahoo.downloads())  # as_of - 3 * 365 days
    keys = aws_state(stack)["DataBucket"]
    assert [k for k in keys if k.startswith("archive/")] == [f"archive/bars/{s}.csv.gz" for s in SYMBOLS]
    body = boto3.client("s3").get_object(Bucket=stack.refs["DataBucket"], Key="archive/bars/AAA.csv.gz")[
        "Body"
    ]
    archived = pd.read_csv(io.BytesIO(gzip.decompress(body.read())))
    assert archived["Date"].iloc[-1] == "2024-07-03"

    # When the next session's run fetches D2: only the new bars are asked for (two bars of overlap)
    yahoo.history_calls.clear()
    second = fetch("run-2", as_of=D2.isoformat())
    assert sorted(yahoo.downloads()) == [(s, "2024-07-02") for s in SYMBOLS]
    report = s3_json(second["quality"])
    assert report["fetch"]["new_bars"] == 3 and report["fetch"]["from_archive"] == 3
    assert report["fetch"]["source_calls"] == 1 and report["fetch"]["archive"].endswith("/archive/bars")

    # When D2 runs again (a retried step): nothing is downloaded at all
    yahoo.history_calls.clear()
    again = fetch("run-3", as_of=D2.isoformat())
    assert yahoo.history_calls == [] and again["symbols"] == len(SYMBOLS)
    assert s3_json(again["quality"])["fetch"]["requested"] == 0


def test_quality_report_is_in_s3_and_summarized_in_the_result(stack, yahoo):
    yahoo.frames["BBB"] = yahoo.frames["BBB"].loc[: pd.Timestamp(D1)]  # Yahoo has not published BBB's D2
    del yahoo.frames["CCC"]  # and knows nothing of CCC
    result = fetch("run-q", as_of=D2.isoformat())
    assert result["quality"] == {
        "bucket": stack.refs["DataBucket"],
        "key": f"runs/{D2}/run-q/quality.json",
    }
    report = s3_json(result["quality"])
    assert report["ok"] == ["AAA"] and result["symbols"] == 1
    assert {(s["symbol"], s["reason"]) for s in report["skipped"]} == {("BBB", "stale"), ("CCC", "no_data")}
    assert len(report["skipped"]) == result["skipped"]
    assert report["expected_last_session"] == str(D2) and report["synthetic"] is False
    assert result["warnings"] == len(report["warnings"])
    obj = boto3.client("s3").get_object(Bucket=result["quality"]["bucket"], Key=result["quality"]["key"])
    assert obj["ContentType"] == "application/json"


def test_too_many_failed_symbols_fail_the_step_and_change_nothing(stack, yahoo):
    yahoo.frames = {"AAA": yahoo.frames["AAA"]}
    before = aws_state(stack)
    with pytest.raises(DataQualityError, match="2 of 3 symbols could not be loaded"):
        fetch("run-f", as_of=D2.isoformat())
    assert aws_state(stack) == before
    # a looser threshold for this run lets it go on with what it has
    result = fetch("run-g", as_of=D2.isoformat(), max_failed_fraction=0.7)
    assert result["symbols"] == 1 and s3_json(result["quality"])["ok"] == ["AAA"]


def test_a_session_that_has_not_closed_is_refused_for_a_live_source(stack, yahoo):
    event = FetchEvent(run_id="early", request=PipelineRequest(source="yfinance", symbols=SYMBOLS, as_of=D2))
    before_close = FixedClock(datetime(2024, 7, 5, 19, 59, tzinfo=UTC))  # 15:59 in New York
    before = aws_state(stack)
    with pytest.raises(InputValidationError, match="has not closed yet"):
        fetch_market_data(event, Runtime(settings=get_settings(), clock=before_close))
    assert aws_state(stack) == before and yahoo.history_calls == []
    after_close = FixedClock(datetime(2024, 7, 5, 20, 0, tzinfo=UTC))
    assert fetch_market_data(event, Runtime(settings=get_settings(), clock=after_close)).tradable


def test_no_as_of_on_a_holiday_is_market_closed(stack, yahoo):
    event = FetchEvent(run_id="sched", request=PipelineRequest(source="yfinance"))
    holiday_evening = FixedClock(datetime(2024, 7, 4, 20, 30, tzinfo=UTC))  # the schedule's 16:30 in New York
    result = fetch_market_data(event, Runtime(settings=get_settings(), clock=holiday_evening))
    assert result.as_of == date(2024, 7, 4) and not result.market_open and not result.tradable
    assert yahoo.history_calls == [] and aws_state(stack)["DataBucket"] == []


# --- issue 10 --------------------------------------------------------------------------------------------


def test_a_network_failure_is_retried_then_retryable_never_no_data(stack, monkeypatch, tmp_path):
    # Yahoo unreachable (a connection reset for every ticker): the step used to fail at once with
    # UnknownSymbolError ("no data" for each ticker); now the backoff runs, then RetryableError, so the
    # state machine's Retry takes over. Nothing is written.
    frames = {s: session_bars(D2, 300, seed=i) for i, s in enumerate(SYMBOLS)}
    yahoo = install_fake_yahoo(monkeypatch, tmp_path, frames, network_failures=10_000)
    before = aws_state(stack)
    with pytest.raises(RetryableError, match="network failure"):
        fetch("run-net", as_of=D2.isoformat())
    assert len(yahoo.sleeps) == 3 and aws_state(stack) == before  # 4 attempts, 3 backoff sleeps


def test_a_short_network_failure_is_absorbed_by_the_backoff(stack, monkeypatch, tmp_path):
    frames = {s: session_bars(D2, 300, seed=i) for i, s in enumerate(SYMBOLS)}
    yahoo = install_fake_yahoo(monkeypatch, tmp_path, frames, network_failures=2)
    result = fetch("run-blip", as_of=D2.isoformat())
    assert result["tradable"] and result["symbols"] == 3 and len(yahoo.sleeps) == 1


def test_only_stale_csv_symbols_is_nothing_to_trade_not_a_failure(stack, tmp_path):
    # REAL SPY rows that stop in 2019, for an as-of in 2024: stale with the last bar, tradable False
    directory = write_spy(tmp_path / "old", spy_until("2019-12-31"))
    result = fetch("run-stale", source=f"csv:{directory}", symbols=["SPY"], as_of="2024-04-18")
    assert result["market_open"] and not result["tradable"] and result["skipped"] == 1
    (issue,) = s3_json(result["quality"])["skipped"]
    assert (issue["symbol"], issue["reason"]) == ("SPY", "stale") and "last bar 2019-12-31" in issue["detail"]


@pytest.mark.parametrize("kind", ["csv", "sample"])
def test_a_session_the_market_has_not_reached_is_refused_for_every_source(stack, tmp_path, kind):
    # SPY's rows re-dated so that the file ends on a session still ahead of the clock: a run for it must not
    # decide (it would trade on bars that cannot exist yet, and the account would then refuse the real last
    # session as "back in time")
    directory = write_spy(tmp_path / "redated", spy_until("2024-04-19"))
    source = f"csv:{directory}" if kind == "csv" else "sample"
    clock = FixedClock(datetime(2024, 4, 12, 21, 0, tzinfo=UTC))  # 17:00 New York, Friday 12 April
    before = aws_state(stack)
    for as_of in (date(2024, 4, 15), date(2024, 4, 19)):  # the next session, a week ahead
        event = FetchEvent(run_id=f"ahead-{kind}", request=PipelineRequest(source=source, as_of=as_of))
        with pytest.raises(InputValidationError, match="has not closed yet"):
            fetch_market_data(event, Runtime(settings=get_settings(), clock=clock))
    assert aws_state(stack) == before
    # the session that did close is decided as usual
    closed = FetchEvent(
        run_id=f"closed-{kind}", request=PipelineRequest(source=source, as_of=date(2024, 4, 12))
    )
    assert fetch_market_data(closed, Runtime(settings=get_settings(), clock=clock)).market_open
