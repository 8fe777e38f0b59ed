"""Cold start of each Lambda handler: fresh-process ``import app`` time and module count.

Each handler is imported the way the Lambda runtime imports it: a new Python process whose path has the
function's folder (``functions/<name>``), then ``import app``. Every measurement is a new process (nothing
is warm but the OS file cache), repeated ``--repeat`` times (median reported); ``import numpy`` is measured
in the same run as the yardstick, so figures from different machines or days can be compared as ratios.

Also reported per handler: which heavy packages the import loaded (pandas, yfinance, the strategy engine,
the executor, the X-Ray SDK), i.e. what a cold start pays for before any work.

    .venv/bin/python bench/cold_start.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = REPO / "functions"
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
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
watched = {watched!r}
print(json.dumps({{"seconds": elapsed, "modules": len(sys.modules),
                  "loaded": [w for w in watched if w in sys.modules]}}))
"""


def measure(module: str, path: Path | None, repeat: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    if path is not None:
        env["PYTHONPATH"] = str(path)
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module, watched=WATCHED)],
            env=env,
            cwd=path or REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "min_s": min(r["seconds"] for r in runs),
        "modules": runs[-1]["modules"],
        "loaded": runs[-1]["loaded"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

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
