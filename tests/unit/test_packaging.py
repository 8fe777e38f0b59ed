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


LAYERS = ("layers/tradebot/requirements.txt", "layers/fetch/requirements.txt")
RUNTIME_SDK = {"boto3", "botocore", "s3transfer"}  # Lambda's runtime provides them: never in a layer


def test_the_layers_pin_the_versions_the_tests_run() -> None:
    runtime, _ = pyproject()
    for path in LAYERS:
        layer = requirements(path)
        assert layer, f"no pinned requirement found in {path}"
        assert {name: runtime.get(name) for name in layer} == layer, path


def test_every_runtime_dependency_is_in_exactly_one_layer() -> None:
    """pyproject's runtime pins (less the local CLI's and the SDK) = the base layer's + the fetch layer's."""
    runtime, _ = pyproject()
    base, fetch = (requirements(path) for path in LAYERS)
    assert set(base) & set(fetch) == set()
    local_only = {"typer", "rich", "moto"}
    assert set(base) | set(fetch) == set(runtime) - local_only - RUNTIME_SDK
    assert not (set(base) | set(fetch)) & RUNTIME_SDK


def test_the_executor_image_installs_every_layer() -> None:
    dockerfile = (ROOT / "executor" / "Dockerfile").read_text(encoding="utf-8")
    for path in LAYERS:
        assert f"COPY {path} " in dockerfile, f"the executor image does not install {path}"


def test_the_executor_pins_the_versions_the_tests_run() -> None:
    runtime, dev = pyproject()
    executor = requirements("executor/requirements.txt")
    assert "alpaca-py" in executor
    expected = {name: runtime.get(name) or dev.get(name) for name in executor if name != "boto3"}
    assert expected == {name: v for name, v in executor.items() if name != "boto3"}
