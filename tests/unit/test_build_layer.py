"""scripts/build_layer.py's pruning on fake installed distributions: the runtime's SDK and what only it needs
are dropped (extras followed), and a stacked layer ships only what the other layer lacks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build_layer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_layer", ROOT / "scripts" / "build_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(site: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    package = site / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    record = [f"{package.name}/__init__.py,,", f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


def names(site: Path) -> list[str]:
    return sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info"))


def test_the_runtime_sdk_and_what_only_it_needs_are_dropped(build_layer: ModuleType, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(
        site, "powertools", "1.0", ["jmespath", 'xray ; extra == "tracer"', 'extra-only ; extra == "other"']
    )
    install(site, "xray", "1.0", ("botocore", "wrapt"))
    install(site, "wrapt", "1.0")
    install(site, "jmespath", "1.0")
    install(site, "botocore", "1.0", ("jmespath", "urllib3"))
    install(site, "urllib3", "1.0")
    install(site, "extra-only", "1.0")
    removed = build_layer.drop_runtime_sdk(site, {"powertools": {"tracer"}})
    assert removed == ["botocore", "extra-only", "urllib3"]
    assert names(site) == ["jmespath", "powertools", "wrapt", "xray"]  # jmespath: powertools needs it too


def test_a_stacked_layer_ships_only_what_the_other_lacks(build_layer: ModuleType, tmp_path: Path) -> None:
    both, base = tmp_path / "both", tmp_path / "base"
    for site in (both, base):
        install(site, "pandas", "3.0")
    install(both, "yfinance", "1.0", ("pandas",))
    assert build_layer.subtract(both, base) == ["pandas"]
    assert names(both) == ["yfinance"]


def test_a_version_the_other_layer_does_not_have_fails_the_build(
    build_layer: ModuleType, tmp_path: Path
) -> None:
    both, base = tmp_path / "both", tmp_path / "base"
    install(both, "pandas", "3.1")
    install(base, "pandas", "3.0")
    with pytest.raises(SystemExit, match="shadow"):
        build_layer.subtract(both, base)
