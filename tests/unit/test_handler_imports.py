"""Each Lambda handler loads only its own step: checked in a fresh interpreter, as a cold start imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# what the import loaded: top-level packages, and tradebot's subpackages (tradebot.strategy, ...)
PROBE = (
    "import json, sys; import app; "
    "names = {'.'.join(m.split('.')[:2]) if m.startswith('tradebot.') else m.split('.')[0] "
    "for m in sys.modules}; print(json.dumps(sorted(names)))"
)

# handler folder -> top-level packages (or tradebot subpackages) its import must not load
FORBIDDEN = {
    "fetch_market_data": {"tradebot.strategy", "tradebot.execution"},
    "optimize_strategy": {"tradebot.execution", "yfinance"},
    "generate_signals": {"tradebot.execution", "yfinance"},
    "paper_trade": {"tradebot.strategy", "yfinance"},
}


def loaded_by(folder: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "POWERTOOLS_"))}
    env["PYTHONPATH"] = str(FUNCTIONS / folder)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=FUNCTIONS / folder, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_a_handler_loads_only_its_own_step(folder: str) -> None:
    loaded = loaded_by(folder)
    assert "tradebot.pipeline" in loaded  # the probe sees tradebot's subpackages
    assert not FORBIDDEN[folder] & loaded, f"{folder} loads {sorted(FORBIDDEN[folder] & loaded)}"


def test_every_handler_folder_is_checked() -> None:
    assert {p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file()} == set(FORBIDDEN)
