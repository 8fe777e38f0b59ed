"""A run's objects in the data bucket: one prefix per run, every key and format defined here.

States pass pointers to these objects (:class:`~tradebot.contracts.S3Pointer`) and counts, never the
data, so no state's input or output grows with the universe (Step Functions caps them at 256 KB)::

    s3://<DATA_BUCKET>/runs/<as_of>/<run_id>/
        quality.json              DataQualityReport (JSON): tradable symbols, skipped ones with reasons
        manifest.json             JSON array of OptimizeBatch: the optimize Distributed Map's items
        bars/<batch>.csv.gz       one batch's bars (format: tradebot.data.run_bars)
        optimize/<batch>.json     OptimizeBatchResult: each symbol's parameters and scores, failures
        signals.json.gz           SignalsDocument (gzip JSON): every symbol's signal, the failures
        decision-<account>.json   DecisionDetail: the ranked candidates and why each was left out

``<batch>`` is the batch number, five digits. The objects expire with the run prefix (template.yaml's
lifecycle rule on ``runs/``). JSON is UTF-8; a ``.gz`` object is gzip without a timestamp in its header
(the same document always gives the same bytes) and ``ContentType: application/gzip``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from tradebot.contracts import OptimizeBatch, S3Pointer
from tradebot.errors import InputValidationError

RUNS_PREFIX = "runs"
M = TypeVar("M", bound=BaseModel)


def run_prefix(as_of: date, run_id: str) -> str:
    return f"{RUNS_PREFIX}/{as_of.isoformat()}/{run_id}"


def quality_key(as_of: date, run_id: str) -> str:
    return f"{run_prefix(as_of, run_id)}/quality.json"


def manifest_key(as_of: date, run_id: str) -> str:
    return f"{run_prefix(as_of, run_id)}/manifest.json"


def bars_key(as_of: date, run_id: str, batch: int) -> str:
    return f"{run_prefix(as_of, run_id)}/bars/{batch:05d}.csv.gz"


def batch_result_key(as_of: date, run_id: str, batch: int) -> str:
    return f"{run_prefix(as_of, run_id)}/optimize/{batch:05d}.json"


def signals_key(as_of: date, run_id: str) -> str:
    return f"{run_prefix(as_of, run_id)}/signals.json.gz"


def decision_key(as_of: date, run_id: str, account: str) -> str:
    return f"{run_prefix(as_of, run_id)}/decision-{account}.json"


class RunObjects:
    """Reads and writes a run's JSON objects (low-level S3 client)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put_model(self, key: str, model: BaseModel, *, compress: bool = False) -> S3Pointer:
        """Write ``model`` as JSON (gzip when ``compress``) at ``key``; its pointer."""
        return self._put(key, model.model_dump_json().encode("utf-8"), compress)

    def put_manifest(self, key: str, batches: Sequence[OptimizeBatch]) -> S3Pointer:
        """The manifest: a JSON array (what a Distributed Map's ItemReader with InputType JSON reads)."""
        body = json.dumps([b.model_dump(mode="json") for b in batches]).encode("utf-8")
        return self._put(key, body, compress=False)

    def get_model(self, pointer: S3Pointer, model: type[M]) -> M:
        """The object at ``pointer`` as ``model``; InputValidationError if it is not one."""
        data = self._get(pointer)
        try:
            return model.model_validate_json(data)
        except ValidationError as exc:
            raise InputValidationError(
                f"s3://{pointer.bucket}/{pointer.key} is not a {model.__name__}: {exc}"
            ) from None

    def get_manifest(self, pointer: S3Pointer) -> list[OptimizeBatch]:
        try:
            items = json.loads(self._get(pointer))
            if not isinstance(items, list):
                raise ValueError("expected a JSON array")
            return [OptimizeBatch.model_validate(item) for item in items]
        except (ValueError, ValidationError) as exc:
            where = f"s3://{pointer.bucket}/{pointer.key}"
            raise InputValidationError(f"{where} is not a manifest: {exc}") from None

    def find_model(self, pointer: S3Pointer, model: type[M]) -> M | None:
        """Like :meth:`get_model`, None when there is no such object."""
        try:
            return self.get_model(pointer, model)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _put(self, key: str, body: bytes, compress: bool) -> S3Pointer:
        if compress:
            body = gzip.compress(body, compresslevel=6, mtime=0)
        content_type = "application/gzip" if compress else "application/json"
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return S3Pointer(bucket=self.bucket, key=key)

    def _get(self, pointer: S3Pointer) -> bytes:
        data: bytes = self._s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
