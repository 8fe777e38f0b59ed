"""Fixtures of the integration tests: the executor's moto environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.aws import fake_aws
from tests.integration.executor_env import Env


@pytest.fixture
def env() -> Iterator[Env]:
    with fake_aws():
        yield Env()
