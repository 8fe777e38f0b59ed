"""What ships to AWS is what the tests run: the Lambda layer's and the executor's pins equal pyproject's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)$")


def pins(lines: list[str]) -> dict[str, str]:
    """name (lowercase, '-' for '_') -> exact version, for every ``name[extras]==version`` line."""
    found = {}
    for line in lines:
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(3)
    return found


def requirements(path: str) -> dict[str, str]:
    return pins((ROOT / path).read_text(encoding="utf-8").splitlines())


def pyproject() -> tuple[dict[str, str], dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return pins(project["dependencies"]), pins(project["optional-dependencies"]["dev"])


def test_the_layer_pins_the_versions_the_tests_run() -> None:
    runtime, _ = pyproject()
    layer = requirements("layers/tradebot/requirements.txt")
    assert layer, "no pinned requirement found in the layer's requirements.txt"
    assert {name: runtime.get(name) for name in layer} == layer


def test_the_executor_pins_the_versions_the_tests_run() -> None:
    runtime, dev = pyproject()
    executor = requirements("executor/requirements.txt")
    assert "alpaca-py" in executor
    expected = {name: runtime.get(name) or dev.get(name) for name in executor if name != "boto3"}
    assert expected == {name: v for name, v in executor.items() if name != "boto3"}
