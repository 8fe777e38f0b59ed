"""Cold start of each Lambda handler: fresh-process ``import app`` time and module count.

Each handler is imported the way the Lambda runtime imports it: a new Python process whose path has the
function's folder (``functions/<name>``), then ``import app``. Every measurement is a new process (nothing
is warm but the OS file cache), repeated ``--repeat`` times (median reported); ``import numpy`` is measured
in the same run as the yardstick, so figures from different machines or days can be compared as ratios.

Also reported per handler: which heavy packages the import loaded (pandas, yfinance, the strategy engine,
the executor, the X-Ray SDK), i.e. what a cold start pays for before any work.

``--built`` measures what is deployed instead of the venv: an x86_64 twin of `sam build`, built from the
same recipe (template.yaml's layers: a ``makefile`` layer runs its own Makefile target, as `sam build`
does, with LAYER_ARCH=x86_64; a ``python3.13`` layer is pip-installed as SAM's Python builder does), into
.aws-sam/twin-x86_64/. Each function gets /var/task (its CodeUri) and /opt (its layers, merged in order),
plus the runtime's boto3 (the pin of executor/requirements.txt, the version the tests run) after them, as
on Lambda. Each measurement is a fresh ``python3.13 -I -S -B`` (isolated, no site-packages of the host,
no bytecode written: /opt is read-only on Lambda) with the function's environment from the template; the
size is the function's code plus its layers, unzipped. ``--no-build`` measures the twin as it is.

    .venv/bin/python bench/cold_start.py [--repeat 5] [--json]
    .venv/bin/python bench/cold_start.py --built [--no-build] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from check_build_size import tree_size  # noqa: E402  (the size `make build` checks: one definition)

FUNCTIONS = REPO / "functions"
TWIN = REPO / ".aws-sam" / "twin-x86_64"
MIB = 1024 * 1024
WATCHED = (
    "pandas",
    "yfinance",
    "curl_cffi",
    "exchange_calendars",
    "tradebot.strategy",
    "tradebot.execution",
    "aws_xray_sdk",
)

PROBE = """
import json, sys, time
sys.path[:0] = {path!r}
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
watched = {watched!r}
botocore = sys.modules.get("botocore")
print(json.dumps({{"seconds": elapsed, "modules": len(sys.modules),
                  "loaded": [w for w in watched if w in sys.modules],
                  "botocore": getattr(botocore, "__file__", None)}}))
"""


def measure(module: str, path: Path | None, repeat: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    if path is not None:
        env["PYTHONPATH"] = str(path)
    probe = PROBE.format(module=module, watched=WATCHED, path=[])
    return summarize([run_probe([sys.executable, "-c", probe], env, path or REPO) for _ in range(repeat)])


def run_probe(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... in {cwd} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "min_s": min(r["seconds"] for r in runs),
        "modules": runs[-1]["modules"],
        "loaded": runs[-1]["loaded"],
        "botocore": runs[-1]["botocore"],
    }


# --- the x86_64 twin of `sam build` -------------------------------------------------------------------


def python313() -> str:
    found = subprocess.run(
        [str(REPO / "scripts" / "find_python313.sh")], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def runtime_boto3_pin() -> str:
    for line in (REPO / "executor" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if re.match(r"^boto3==", line.strip()):
            return line.split("#", 1)[0].strip()
    raise SystemExit("executor/requirements.txt pins no boto3 (the twin's runtime SDK)")


def pip_install(python: str, target: Path, args: list[str], compile_: bool) -> None:
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--root-user-action=ignore", "--target", str(target), *args]
    if not compile_:
        command.append("--no-compile")
    subprocess.run(command, check=True)


def build_layer(python: str, logical_id: str, layer: dict[str, Any], out: Path) -> None:
    """One layer, as `sam build` builds it, for x86_64."""
    content = REPO / layer["Properties"]["ContentUri"]
    method = layer.get("Metadata", {}).get("BuildMethod")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if method == "makefile":
        env = dict(os.environ, ARTIFACTS_DIR=str(out), LAYER_ARCH="x86_64")
        env["PATH"] = f"{Path(python).parent}{os.pathsep}{env['PATH']}"
        makefile = content / "Makefile"
        subprocess.run(
            ["make", "--makefile", str(makefile), f"build-{logical_id}"], env=env, cwd=content, check=True
        )
    elif method and method.startswith("python"):
        # SAM's Python builder: the requirements pip-installed (no bytecode), then the folder's files copied
        pip_install(python, out / "python", ["-r", str(content / "requirements.txt")], compile_=False)
        shutil.copytree(
            content, out / "python", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        raise SystemExit(f"{logical_id}: BuildMethod {method!r} is not one the twin knows")


def function_layers(template: dict[str, Any], function: dict[str, Any]) -> list[str]:
    from tradebot_local.cfn import CfnTag

    # SAM's Globals: lists are additive (the Globals' layers first, then the function's)
    globals_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    ids = []
    for layer in [*globals_layers, *function["Properties"].get("Layers", [])]:
        if not (isinstance(layer, CfnTag) and layer.name == "Ref"):
            raise SystemExit(f"the twin builds only this template's layers (!Ref), not {layer!r}")
        ids.append(str(layer.value))
    return ids


def lambda_environment(
    template: dict[str, Any], logical_id: str, function: dict[str, Any], task: Path
) -> dict[str, str]:
    """The function's environment on Lambda: the template's variables (a resource's name stands for its
    value) and the runtime's own."""
    from tradebot_local.cfn import CfnTag

    variables = dict(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    parameters = template.get("Parameters", {})

    def value_of(value: Any) -> str:
        if isinstance(value, CfnTag) and value.name == "Ref" and "Default" in parameters.get(value.value, {}):
            return str(parameters[value.value]["Default"])  # a parameter: its default
        if isinstance(value, CfnTag):
            return f"{value.value}"  # a resource: its logical id stands for its name
        return str(value)

    env = {name: value_of(value) for name, value in variables.items()}
    env.update(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        LANG="en_US.UTF-8",
        TZ=":UTC",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
        AWS_LAMBDA_FUNCTION_NAME=logical_id,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function["Properties"].get("MemorySize", 128)),
        LAMBDA_TASK_ROOT=str(task),
        _HANDLER=str(template.get("Globals", {}).get("Function", {}).get("Handler", "app.lambda_handler")),
    )
    return env


def build_twin(python: str, template: dict[str, Any], twin: Path) -> None:
    layers = {
        k: r for k, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::LayerVersion"
    }
    for logical_id, layer in layers.items():
        print(f"building layer {logical_id} (x86_64) ...", file=sys.stderr)
        build_layer(python, logical_id, layer, twin / "layers" / logical_id)
    print(f"installing the runtime's SDK ({runtime_boto3_pin()}) ...", file=sys.stderr)
    shutil.rmtree(twin / "runtime", ignore_errors=True)
    pip_install(python, twin / "runtime", [runtime_boto3_pin()], compile_=True)


def deploy_function(
    template: dict[str, Any], logical_id: str, function: dict[str, Any], twin: Path
) -> tuple[Path, Path]:
    """/var/task and /opt of one function in the twin (/opt: its layers merged in order, hard links)."""
    root = twin / "functions" / logical_id
    shutil.rmtree(root, ignore_errors=True)
    task, opt = root / "task", root / "opt"
    shutil.copytree(
        REPO / function["Properties"]["CodeUri"], task, ignore=shutil.ignore_patterns("__pycache__")
    )
    opt.mkdir(parents=True)
    for layer_id in function_layers(template, function):
        shutil.copytree(twin / "layers" / layer_id, opt, dirs_exist_ok=True, copy_function=os.link)
    return task, opt


def measure_built(repeat: int, build: bool) -> dict[str, dict[str, Any]]:
    from tradebot_local.cfn import load_template

    python = python313()
    template = load_template(REPO / "template.yaml")
    if build or not (TWIN / "runtime").is_dir():
        build_twin(python, template, TWIN)
    functions = {
        k: r for k, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"
    }
    results: dict[str, dict[str, Any]] = {}
    for logical_id, function in sorted(functions.items()):
        task, opt = deploy_function(template, logical_id, function, TWIN)
        path = [str(task), str(opt / "python" / "lib" / "python3.13" / "site-packages"), str(opt / "python")]
        path.append(str(TWIN / "runtime"))
        probe = PROBE.format(module="app", watched=WATCHED, path=path)
        env = lambda_environment(template, logical_id, function, task)
        runs = [run_probe([python, "-I", "-S", "-B", "-c", probe], env, task) for _ in range(repeat)]
        results[logical_id] = summarize(runs) | {
            "size_mib": (tree_size(task) + tree_size(opt)) / MIB,
            "layers": function_layers(template, function),
        }
    return results


def print_built(results: dict[str, dict[str, Any]], repeat: int) -> None:
    print(f"x86_64 twin of `sam build` ({TWIN.relative_to(REPO)}), python3.13 -I -S -B, median of {repeat}")
    header = f"{'function':<26} {'MiB':>7} {'import s':>9} {'min s':>6} {'modules':>8}"
    print(f"{header}  botocore from / heavy packages")
    for name, r in results.items():
        origin = r["botocore"] or "-"
        origin = "runtime" if "/runtime/" in origin else "LAYER" if "/opt/" in origin else origin
        loaded = ", ".join(r["loaded"]) or "-"
        print(
            f"{name:<26} {r['size_mib']:>7.1f} {r['median_s']:>9.3f} {r['min_s']:>6.3f} {r['modules']:>8}  "
            f"{origin} / {loaded}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--built", action="store_true", help="measure the x86_64 twin of `sam build`")
    parser.add_argument("--no-build", action="store_true", help="with --built: measure the twin as it is")
    args = parser.parse_args()

    if args.built:
        built = measure_built(args.repeat, build=not args.no_build)
        if args.json:
            print(json.dumps(built, indent=2))
        else:
            print_built(built, args.repeat)
        return 0

    results: dict[str, dict[str, object]] = {"import numpy": measure("numpy", None, args.repeat)}
    for folder in sorted(p for p in FUNCTIONS.iterdir() if (p / "app.py").is_file()):
        results[folder.name] = measure("app", folder, args.repeat)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    numpy_s = float(results["import numpy"]["median_s"])  # type: ignore[arg-type]
    version = sys.version.split()[0]
    print(f"fresh-process import, median of {args.repeat} ({sys.executable}, Python {version})")
    print(f"{'handler':<20} {'import s':>9} {'x numpy':>8} {'modules':>8}  heavy packages loaded")
    for name, r in results.items():
        seconds = float(r["median_s"])  # type: ignore[arg-type]
        loaded = ", ".join(r["loaded"]) or "-"  # type: ignore[arg-type]
        print(f"{name:<20} {seconds:>9.3f} {seconds / numpy_s:>8.1f} {r['modules']:>8}  {loaded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
