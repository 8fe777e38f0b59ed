"""Fixtures of the integration tests: the executor's moto environment, and a local paper account that
never touches the developer's own (.tradebot/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tests.integration.executor_env import Env
from tradebot import aws


@pytest.fixture(autouse=True)
def isolated_local_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Local runs persist the paper account under TRADEBOT_STATE_DIR: a fresh directory per test."""
    state_dir = tmp_path / "tradebot-state"
    monkeypatch.setenv("TRADEBOT_STATE_DIR", str(state_dir))
    return state_dir


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    with mock_aws():
        yield Env()
    aws.reset_clients()
