"""Shared fixtures. Every AWS call in the tests goes to moto (the emulator sets fake credentials)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def isolated_local_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Local runs persist the paper account under TRADEBOT_STATE_DIR: a fresh directory per test."""
    state_dir = tmp_path / "tradebot-state"
    monkeypatch.setenv("TRADEBOT_STATE_DIR", str(state_dir))
    return state_dir


@pytest.fixture
def stack() -> Iterator[Any]:
    """template.yaml deployed into the emulator, handlers registered, the functions' environment set."""
    from tradebot_local.runner import local_stack

    with local_stack() as (deployment, dispatcher):
        deployment.dispatcher = dispatcher
        yield deployment


def aws_state(deployment: Any) -> dict[str, Any]:
    """What the pipeline can write: table items, bucket objects, queue depths (to show 'changes nothing')."""
    ddb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    state: dict[str, Any] = {}
    for logical in deployment.resources("AWS::DynamoDB::Table"):
        state[logical] = ddb.scan(TableName=deployment.refs[logical])["Items"]
    for logical in deployment.resources("AWS::S3::Bucket"):
        state[logical] = [
            o["Key"] for o in s3.list_objects_v2(Bucket=deployment.refs[logical]).get("Contents", [])
        ]
    for logical in deployment.resources("AWS::SQS::Queue"):
        attrs = sqs.get_queue_attributes(
            QueueUrl=deployment.refs[logical],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        state[logical] = attrs
    return state
