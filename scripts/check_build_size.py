"""Fail if a built Lambda function plus its layers exceeds Lambda's unzipped size limit or its budget.

Reads `sam build`'s output (.aws-sam/build/template.yaml and the artifact folders next to it) and prints
one row per function. The budgets are issue 11's: a function that fetches (it has the fetch layer) under
200 MiB, every other function under 120 MiB, so a dependency that creeps in fails the build long before
Lambda's 250 MiB does. Usage: python scripts/check_build_size.py [.aws-sam/build]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tradebot_local.cfn import CfnTag, load_template

# Lambda's quota: function code + all its layers, unzipped (262,144,000 bytes = 250 MiB).
UNZIPPED_LIMIT_BYTES = 262_144_000
MIB = 1024 * 1024
FETCH_LAYER = "FetchLayer"
BUDGET_MIB = {True: 200, False: 120}  # with the fetch layer / without it


def tree_size(folder: Path) -> int:
    """Bytes of every regular file under folder, as unzipped on Lambda (symlinks not followed)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == resource_type}


def ref_target(value: Any) -> str | None:
    """The logical id of `!Ref X` or `{Ref: X}` (sam build writes the long form), else None."""
    if isinstance(value, CfnTag) and value.name == "Ref":
        return str(value.value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return None


def function_layers(template: dict[str, Any], function: dict[str, Any]) -> list[Any]:
    """The function's layers: SAM's Globals lists are additive (the Globals' first, then the function's)."""
    globals_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    return [*globals_layers, *function.get("Properties", {}).get("Layers", [])]


def check(build_dir: Path) -> int:
    template = load_template(build_dir / "template.yaml")
    layer_dirs = {
        logical_id: build_dir / resource["Properties"]["ContentUri"]
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::LayerVersion").items()
    }
    layer_sizes = {logical_id: tree_size(folder) for logical_id, folder in layer_dirs.items()}
    functions = resources_of_type(template, "AWS::Serverless::Function")
    if not functions:
        print(f"no functions in {build_dir / 'template.yaml'}", file=sys.stderr)
        return 1

    failures = []
    print(
        f"{'function':<28} {'code MiB':>9} {'layers MiB':>11} {'total MiB':>10} {'budget':>7}   limit 250 MiB"
    )
    for logical_id, function in sorted(functions.items()):
        code = tree_size(build_dir / function["Properties"]["CodeUri"])
        layers = 0
        names = []
        for layer in function_layers(template, function):
            target = ref_target(layer)
            if target is not None and target in layer_sizes:
                layers += layer_sizes[target]
                names.append(target)
            else:
                failures.append(f"{logical_id}: cannot measure layer {layer!r} (not built by this template)")
        total = code + layers
        budget = BUDGET_MIB[FETCH_LAYER in names]
        verdict = "ok" if total < UNZIPPED_LIMIT_BYTES and total < budget * MIB else "TOO BIG"
        print(
            f"{logical_id:<28} {code / MIB:>9.2f} {layers / MIB:>11.2f} {total / MIB:>10.2f} {budget:>7}   "
            f"{verdict} ({total:,} bytes; {', '.join(names) or 'no layers'})"
        )
        if total >= UNZIPPED_LIMIT_BYTES:
            failures.append(f"{logical_id}: {total:,} bytes >= {UNZIPPED_LIMIT_BYTES:,}")
        elif total >= budget * MIB:
            failures.append(f"{logical_id}: {total / MIB:.1f} MiB >= its budget of {budget} MiB")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    build_dir = Path(argv[1] if len(argv) > 1 else ".aws-sam/build")
    if not (build_dir / "template.yaml").is_file():
        print(f"{build_dir}/template.yaml not found: run `sam build` first", file=sys.stderr)
        return 1
    return check(build_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
