"""Fake AWS for tests that build their own resources: moto with fake credentials, and the tables exactly as
template.yaml defines them (so a schema change there is a schema change here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from unittest import mock

from moto import mock_aws

from tradebot import aws
from tradebot_local.cfn import load_template
from tradebot_local.emulator import FAKE_CREDENTIALS
from tradebot_local.provision import TEMPLATE, table_definitions


@contextmanager
def fake_aws() -> Iterator[None]:
    """moto, fake credentials (never real AWS) and fresh cached clients."""
    with mock.patch.dict(os.environ, FAKE_CREDENTIALS), mock_aws():
        aws.reset_clients()
        try:
            yield
        finally:
            aws.reset_clients()


@cache
def _definitions() -> dict[str, dict[str, Any]]:
    return table_definitions(load_template(TEMPLATE))


def create_tables(ddb: Any, *logical_ids: str) -> None:
    """Create template.yaml's tables, each named by its logical id (e.g. "LedgerTable")."""
    for logical in logical_ids:
        ddb.create_table(TableName=logical, **_definitions()[logical])
