"""source_from_spec: the valid forms, and a clear error for anything else."""

from __future__ import annotations

import pytest

from tradebot.data import BarSource, LoadResult, source_from_spec
from tradebot.data.s3_source import S3Source
from tradebot.data.sample import SampleSource
from tradebot.data.yfinance_source import YFinanceSource
from tradebot.errors import InputValidationError


def test_sample_and_yfinance() -> None:
    assert isinstance(source_from_spec("sample"), SampleSource)
    assert isinstance(source_from_spec(" Sample "), SampleSource)
    yf = source_from_spec("yfinance", cache_dir="/tmp/x")
    assert isinstance(yf, YFinanceSource) and isinstance(yf, BarSource)
    assert yf.name == "yfinance" and yf.synthetic is False and yf.default_symbols() is None


def test_s3_spec() -> None:
    src = source_from_spec("s3://my-bucket/bars/daily/")
    assert isinstance(src, S3Source) and isinstance(src, BarSource)
    assert (src.bucket, src.prefix, src.name) == ("my-bucket", "bars/daily", "s3://my-bucket/bars/daily")
    with pytest.raises(InputValidationError, match="bucket"):
        source_from_spec("s3://")


@pytest.mark.parametrize("spec", ["", "yahoo", "csv:", "csv", "file:/tmp", "SAMPLE2", "http://x"])
def test_unknown_specs_name_the_valid_forms(spec: str) -> None:
    with pytest.raises(InputValidationError) as info:
        source_from_spec(spec)
    message = str(info.value)
    for form in ('"sample"', '"yfinance"', '"csv:DIR"', '"s3://bucket/prefix"'):
        assert form in message


def test_load_result_defaults_are_independent() -> None:
    a, b = LoadResult(), LoadResult()
    a.failures["X"] = "no data"
    assert b.failures == {} and b.frames == {}
