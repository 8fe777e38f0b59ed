"""The infrastructure linters, each finding either fixed or accepted with why in .ci/accepted-findings.yaml.

- cfn-lint, every rule (--include-checks I, --include-experimental), on template.yaml;
- checkov, every CloudFormation check, on template.yaml;
- asl-validator (the Amazon States Language schema), on statemachine/*.asl.json.

Fails on a finding that is not accepted, and on an accepted finding that no longer occurs. Run by
`make infra-lint` (which installs the tools: .ci/.venv-tools for the Python ones, .ci/node_modules for
asl-validator) with the tools' venv Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci"
BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "template.yaml"
ACCEPTED = CI / "accepted-findings.yaml"


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603


def cfn_lint() -> dict[str, list[str]]:
    """Rule id -> where (line: message) of each finding."""
    out = run(
        [
            str(BIN / "cfn-lint"),
            "--format",
            "json",
            "--include-checks",
            "I",
            "--include-experimental",
            "--",
            str(TEMPLATE),
        ]
    )
    if out.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) or not out.stdout.strip():
        # cfn-lint's exit code is a bit mask of error (2), warning (4), informational (8) findings
        raise SystemExit(f"cfn-lint did not run:\n{out.stdout}\n{out.stderr}")
    findings: dict[str, list[str]] = defaultdict(list)
    for finding in json.loads(out.stdout):
        line = finding["Location"]["Start"]["LineNumber"]
        findings[finding["Rule"]["Id"]].append(f"line {line}: {finding['Message'][:160]}")
    return findings


def checkov() -> dict[str, list[str]]:
    """Check id -> the logical ids of the resources that fail it."""
    out = run(
        [
            str(BIN / "checkov"),
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "-o",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ]
    )
    if not out.stdout.strip():
        raise SystemExit(f"checkov did not run:\n{out.stderr}")
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    findings: dict[str, list[str]] = defaultdict(list)
    for one in reports:
        for failed in one.get("results", {}).get("failed_checks", []):
            findings[failed["check_id"]].append(failed["resource"].split(".", 1)[-1])
    return findings


def asl_validator() -> dict[str, list[str]]:
    """File -> the validator's messages, for each state machine definition it rejects."""
    validator = CI / "node_modules" / ".bin" / "asl-validator"
    findings: dict[str, list[str]] = {}
    for path in sorted((ROOT / "statemachine").glob("*.asl.json")):
        out = run([str(validator), "--json-path", str(path)])
        print(f"  {out.stdout.strip() or out.stderr.strip()}")
        if out.returncode:
            findings[str(path.relative_to(ROOT))] = (out.stdout + out.stderr).strip().splitlines()
    return findings


def compare(tool: str, findings: dict[str, list[str]], accepted: dict[str, object]) -> list[str]:
    problems = []
    for key, where in sorted(findings.items()):
        entry = accepted.get(key)
        if entry is None:
            problems.extend(f"{tool} {key}: {w}" for w in where)
            continue
        resources = entry.get("resources") if isinstance(entry, dict) else None
        if resources is not None:
            problems.extend(
                f"{tool} {key}: {r} (not among its accepted resources)" for r in where if r not in resources
            )
            stale = sorted(set(resources) - set(where))
            problems.extend(f"{tool} {key}: {r} is accepted but passes now: drop it" for r in stale)
        print(
            f"  accepted {key} x{len(where)}: {(entry['why'] if isinstance(entry, dict) else entry)[:100]}..."
        )
    problems.extend(
        f"{tool} {key}: accepted in {ACCEPTED.name} but not found any more: drop the entry"
        for key in sorted(set(accepted) - set(findings))
    )
    return problems


def main() -> int:
    accepted = yaml.safe_load(ACCEPTED.read_text(encoding="utf-8"))
    problems: list[str] = []
    for tool, check in (("cfn-lint", cfn_lint), ("checkov", checkov), ("asl-validator", asl_validator)):
        print(f"{tool}:")
        findings = check()
        total = sum(len(w) for w in findings.values())
        print(f"  {total} finding(s) of {len(findings)} kind(s)")
        problems += compare(tool, findings, accepted.get(tool) or {})
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print("infrastructure checks:", "FAILED" if problems else "ok (every finding fixed or accepted)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
