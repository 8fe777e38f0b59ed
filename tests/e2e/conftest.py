"""End-to-end fixtures: a local paper account that never touches the developer's own (.tradebot/)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_local_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Local runs persist the paper account under TRADEBOT_STATE_DIR: a fresh directory per test."""
    state_dir = tmp_path / "tradebot-state"
    monkeypatch.setenv("TRADEBOT_STATE_DIR", str(state_dir))
    return state_dir
