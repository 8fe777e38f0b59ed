"""``s3://bucket/prefix``: Yahoo-format ``SYMBOL.csv`` objects under a prefix (the S3 twin of ``csv:DIR``).

``SYMBOL.csv.gz`` objects (gzip) are read too, so the bar archive itself is a source:
``s3://<DATA_BUCKET>/archive/bars`` (see :mod:`tradebot.data.archive`). Objects are read by the same
strict reader as ``csv:DIR`` (:func:`tradebot.data.csv_source.read_bars_csv`: one date format, duplicate
dates, intraday rows, a missing Adj Close), with the same reason codes and warnings; ``BRK.B.csv`` is
``BRK.B``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from datetime import date
from functools import partial
from typing import Any

from tradebot.data import LoadResult
from tradebot.data.csv_source import CsvBars, load_file, read_bars_csv, symbol_of_file
from tradebot.errors import InputValidationError, RetryableError

_THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"})


class S3Source:
    synthetic = False
    live = False

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        if not bucket:
            raise InputValidationError("s3 source: the bucket is missing (use s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.name = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    @classmethod
    def from_url(cls, url: str, *, client: Any = None) -> S3Source:
        rest = url.strip()[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        return cls(bucket, prefix, client=client)

    @property
    def client(self) -> Any:
        if self._client is None:
            from tradebot.aws import client

            self._client = client("s3")
        return self._client

    def _objects(self) -> dict[str, str]:
        """Upper-case symbol -> key of each ``*.csv`` directly under the prefix."""
        base = f"{self.prefix}/" if self.prefix else ""
        out: dict[str, str] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, Delimiter="/"
        ):
            for item in page.get("Contents", []):
                symbol = symbol_of_file(item["Key"][len(base) :])
                if symbol is not None and (symbol not in out or not out[symbol].lower().endswith(".csv")):
                    out[symbol] = item["Key"]  # a plain .csv wins over .csv.gz, as in csv:DIR
        return out

    def default_symbols(self) -> list[str] | None:
        return sorted(self._call(self._objects))

    def load(self, symbols: Sequence[str], start: date | None, end: date) -> LoadResult:
        result = LoadResult()
        objects = self._call(self._objects)
        for symbol in symbols:
            key = objects.get(symbol.upper())
            if key is None:
                result.fail(symbol, f"no data: no {symbol}.csv in {self.name}")
                continue
            body = self._call(lambda k=key: self.client.get_object(Bucket=self.bucket, Key=k)["Body"].read())
            load_file(result, symbol, partial(self._read, body, key), key, start, end)
        return result

    def _read(self, body: bytes, key: str) -> CsvBars:
        label = f"s3://{self.bucket}/{key}"
        try:
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise InputValidationError(f"{label}: not a readable gzip file ({exc})") from None
        stream = io.BytesIO(body)
        stream.name = label  # type: ignore[attr-defined]  # the reader names the stream in its errors
        return read_bars_csv(stream)

    @staticmethod
    def _call(fn: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return fn()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _THROTTLING:
                raise RetryableError(f"S3 throttled: {code}") from exc
            raise
