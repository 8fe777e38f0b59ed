"""Run bars archive (one gzip CSV object per run) and the s3:// source, against moto's S3."""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from tests.aws import fake_aws
from tradebot.contracts import S3Pointer
from tradebot.data import BAR_COLUMNS
from tradebot.data.archive import S3BarArchive
from tradebot.data.csv_source import write_yahoo_csv
from tradebot.data.run_bars import decode_run_bars, encode_run_bars, read_run_bars, write_run_bars
from tradebot.data.s3_source import S3Source
from tradebot.data.sample import SAMPLE_SYMBOLS, SampleSource
from tradebot.errors import InputValidationError

BUCKET = "tradebot-data-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    with fake_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def awkward_frame() -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(["2024-03-08", "2024-03-11", "2024-03-12"]), name="Date").as_unit(
        "us"
    )
    return pd.DataFrame(
        {
            "Open": [0.1 + 0.2, 1e-300, 123456789.12345679],
            "High": [math.pi, 2.0**60, 1 / 3],
            "Low": [np.nextafter(1.0, 2.0), 5e-324, 0.3],
            "Close": [math.e, np.nan, 2.5],
            "Adj Close": [math.e * 0.97, np.nan, 2.4],
            "Volume": [82488700.0, 0.0, np.nan],
        },
        index=index,
    )


def test_round_trip_is_exact(s3: Any) -> None:
    frames = SampleSource().load(list(SAMPLE_SYMBOLS), date(2020, 1, 1), date(2025, 12, 30)).frames
    frames["ODD.X"] = awkward_frame()
    pointer = write_run_bars(s3, BUCKET, "runs/2025-12-30/run-1/bars.csv.gz", frames)
    assert pointer == S3Pointer(bucket=BUCKET, key="runs/2025-12-30/run-1/bars.csv.gz")
    back = read_run_bars(s3, pointer)
    assert list(back) == [*SAMPLE_SYMBOLS, "ODD.X"]  # order kept
    for symbol, frame in frames.items():
        pd.testing.assert_frame_equal(back[symbol], frame, check_exact=True, check_freq=False)
        assert np.array_equal(back[symbol].to_numpy(), frame.to_numpy(), equal_nan=True)
        assert list(back[symbol].columns) == list(BAR_COLUMNS)


def test_object_format_is_one_gzip_long_csv(s3: Any) -> None:
    frames = {"AAA": awkward_frame(), "BBB": awkward_frame().iloc[:1]}
    write_run_bars(s3, BUCKET, "k.csv.gz", frames)
    obj = s3.get_object(Bucket=BUCKET, Key="k.csv.gz")
    assert obj["ContentType"] == "application/gzip"
    assert "ContentEncoding" not in obj
    text = gzip.decompress(obj["Body"].read()).decode()
    lines = text.splitlines()
    assert lines[0] == "Symbol,Date,Open,High,Low,Close,Adj Close,Volume"
    assert lines[1].split(",") == [
        "AAA",
        "2024-03-08",
        "0.30000000000000004",
        "3.141592653589793",
        "1.0000000000000002",
        "2.718281828459045",
        "2.636733373605274",
        "82488700",
    ]
    assert lines[2] == "AAA,2024-03-11,1e-300,1.152921504606847e+18,5e-324,,,0"
    assert [line.split(",")[0] for line in lines[1:]] == ["AAA", "AAA", "AAA", "BBB"]
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 1


def test_same_frames_same_bytes() -> None:
    frames = {"AAA": awkward_frame()}
    assert encode_run_bars(frames) == encode_run_bars(frames)


def test_tricky_symbols_and_empty_frames() -> None:
    frames = {"NA": awkward_frame(), "EMPTY": awkward_frame().iloc[:0]}
    back = decode_run_bars(encode_run_bars(frames))
    assert list(back) == ["NA"]  # "NA" is a symbol, not a missing value; an empty frame has no rows
    assert decode_run_bars(encode_run_bars({})) == {}
    with pytest.raises(InputValidationError):
        encode_run_bars({"A,B": awkward_frame()})
    with pytest.raises(InputValidationError, match="unexpected columns"):
        decode_run_bars(b"Symbol,Date,Close\nA,2024-01-02,1\n")


def test_s3_source(s3: Any) -> None:
    for symbol in ("AAA", "bbb"):
        buffer = io.StringIO()
        write_yahoo_csv(awkward_frame().fillna(1.0), buffer)
        s3.put_object(Bucket=BUCKET, Key=f"bars/daily/{symbol}.csv", Body=buffer.getvalue().encode())
    s3.put_object(Bucket=BUCKET, Key="bars/daily/BAD.csv", Body=b"nothing useful")
    s3.put_object(Bucket=BUCKET, Key="bars/daily/nested/CCC.csv", Body=b"ignored")
    src = S3Source.from_url(f"s3://{BUCKET}/bars/daily", client=s3)
    assert src.name == f"s3://{BUCKET}/bars/daily" and src.synthetic is False
    assert src.default_symbols() == ["AAA", "BAD", "BBB"]
    result = src.load(["AAA", "BBB", "BAD", "ZZZ"], None, date(2024, 3, 11))
    assert set(result.frames) == {"AAA", "BBB"}
    assert result.frames["BBB"].index[-1] == pd.Timestamp("2024-03-11")
    assert result.failures["ZZZ"].startswith("no data")
    assert result.failures["BAD"].startswith("unreadable CSV")


# --- the per-symbol bar archive (archive/bars/<SYMBOL>.csv.gz) -------------------------------------------


def test_bar_archive_objects_are_readable_gzip_yahoo_csv(s3: Any) -> None:
    frame = SampleSource().load(["SYN-A"], date(2025, 1, 1), date(2025, 12, 30)).frames["SYN-A"]
    archive = S3BarArchive(s3, BUCKET)
    assert archive.read("SYN-A") is None  # nothing stored yet
    archive.write("SYN-A", frame, "sample")
    obj = s3.get_object(Bucket=BUCKET, Key="archive/bars/SYN-A.csv.gz")
    assert obj["ContentType"] == "application/gzip" and "ContentEncoding" not in obj
    assert obj["Metadata"] == {"source": "sample", "last-bar": "2025-12-30", "format": "yahoo-csv"}
    lines = gzip.decompress(obj["Body"].read()).decode().splitlines()
    assert lines[0] == "Date,Open,High,Low,Close,Adj Close,Volume"
    assert lines[1].startswith("2025-01-02,") and lines[-1].startswith("2025-12-30,")
    pd.testing.assert_frame_equal(archive.read("SYN-A"), frame)


def test_the_archive_is_itself_an_s3_source(s3: Any) -> None:
    frame = SampleSource().load(["SYN-B"], date(2025, 1, 1), date(2025, 12, 30)).frames["SYN-B"]
    S3BarArchive(s3, BUCKET).write("SYN-B", frame, "sample")
    s3.put_object(Bucket=BUCKET, Key="archive/bars/BAD.csv.gz", Body=b"\x1f\x8b truncated")
    src = S3Source.from_url(f"s3://{BUCKET}/archive/bars", client=s3)
    assert src.default_symbols() == ["BAD", "SYN-B"]
    result = src.load(["SYN-B", "BAD"], None, date(2025, 12, 30))
    pd.testing.assert_frame_equal(result.frames["SYN-B"], frame)
    assert result.failures["BAD"].startswith("unreadable CSV")


def test_an_unreadable_archive_object_is_an_input_error(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="archive/bars/XX.csv.gz", Body=gzip.compress(b"Date,Close\nnope,1\n"))
    expected = r"s3://tradebot-data-test/archive/bars/XX\.csv\.gz: unreadable Date"
    with pytest.raises(InputValidationError, match=expected):
        S3BarArchive(s3, BUCKET).read("XX")


# --- issue 10: the S3 source reads the same files as strictly as csv:DIR (REAL SPY rows, modified) ------


def put(s3: Any, key: str, lines: list[str], *, gz: bool = False) -> None:
    body = ("\n".join(lines) + "\n").encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body) if gz else body)


def test_s3_source_is_strict_and_says_what_it_did(s3: Any) -> None:
    from tests.market_fakes import spy_until

    lines = spy_until("2024-04-18")
    put(s3, "bars/SPY.csv", [*lines, "2024-04-18,null,null,null,null,null,null"])  # an empty duplicate
    put(s3, "bars/BRK.B.csv.gz", lines, gz=True)  # a dotted symbol, gzip
    day, *values = lines[-1].split(",")
    put(s3, "bars/DUP.csv", [*lines, ",".join([day, *(str(float(v) * 1.1) for v in values)])])  # conflicting
    put(s3, "bars/OLD.csv", spy_until("2019-12-31"))  # ends before the window
    put(s3, "bars/DMY.csv", [lines[0], *(f"{r[8:10]}/{r[5:7]}/{r[:4]}{r[10:]}" for r in lines[1:])])
    src = S3Source.from_url(f"s3://{BUCKET}/bars", client=s3)
    assert src.default_symbols() == ["BRK.B", "DMY", "DUP", "OLD", "SPY"]
    result = src.load(["SPY", "BRK.B", "DUP", "OLD", "DMY"], date(2021, 4, 19), date(2024, 4, 18))
    assert set(result.frames) == {"SPY", "BRK.B"}
    assert result.frames["SPY"]["Close"].iloc[-1] == pytest.approx(499.52)
    assert [(w.symbol, w.reason) for w in result.warnings] == [("SPY", "empty_duplicate_dropped")]
    assert result.warnings[0].detail.startswith("bars/SPY.csv: dropped an empty duplicate row")
    assert {s: result.code(s) for s in ("DUP", "OLD", "DMY")} == {
        "DUP": "duplicate_dates",
        "OLD": "stale",
        "DMY": "unreadable",
    }
    assert result.failures["OLD"].startswith("last bar 2019-12-31")
    assert f"s3://{BUCKET}/bars/DMY.csv: unreadable Date on line 2: '02/01/2015'" in result.failures["DMY"]
