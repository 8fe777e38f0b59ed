"""The real state machine, locally, on synthetic universes of growing size: does it scale, and what would a
run cost in AWS?

For each size (default 100, 500, 2,000 and 5,000 symbols): a temporary directory of Yahoo-format CSVs with
2 years of generated daily bars (labelled SYNTHETIC), then two runs on a fresh local paper account, each
exactly what `tradebot run --source csv:DIR --as-of D` does (deploy into the emulator, one execution, the
executor drains the queue): a *cold* run (every symbol optimized) and the next session's *warm* run (the
parameters are fresh and reused: most days are like this one).

Printed per size and run: status, wall time, ms per symbol, Lambda invocations per step, state transitions
(the execution's own, plus one per Map child invocation), the largest state input or output in the
execution history (bytes), and the modelled AWS cost of the run: Step Functions transitions, Lambda
GB-seconds (each handler's local wall time x the template's MemorySize: this machine's core stands in for
Lambda's arm64 vCPU) and requests, DynamoDB request units, S3 and SQS requests, S3 storage for the runs'
objects (kept a year). A month is 21 sessions; parameters are re-optimized about every 6th session
(PARAMS_MAX_AGE_DAYS=7), so it is 3.5 cold runs and 17.5 warm ones, plus what is always on: the executor
(Fargate ARM, 0.25 vCPU / 0.5 GB, --spot-discount applied to compute), its public IPv4 address, its idle
long polls, and the stack's CloudWatch alarms. Prices: bench/aws_prices.py.

    .venv/bin/python bench/universe.py                       # all four sizes (~10-15 minutes)
    .venv/bin/python bench/universe.py --sizes 100,500 --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import aws_prices as price
import boto3

from tradebot.contracts import PipelineRequest
from tradebot.execution.service import POLL_SLICE_SECONDS
from tradebot_local.cfn import load_template
from tradebot_local.provision import TEMPLATE
from tradebot_local.runner import RunReport, run_pipeline
from tradebot_local.universe import write_synthetic_universe

AS_OF, NEXT = date(2024, 5, 30), date(2024, 5, 31)
EXECUTOR_VCPU, EXECUTOR_GB = 0.25, 0.5  # template.yaml's ExecutorTaskDefinition
# one ReceiveMessage after another, each waiting at most a poll slice (the executor's stop check)
IDLE_POLLS_PER_MONTH = 3600 / POLL_SLICE_SECONDS * price.HOURS_PER_MONTH
COLD_RUNS, WARM_RUNS = 3.5, 17.5  # of the month's 21 sessions


@dataclass
class AwsCalls:
    """What the run asked of AWS, counted at the SDK (botocore events of boto3's default session)."""

    calls: dict[str, int] = field(default_factory=dict)  # "service.Operation" -> count
    write_units: float = 0.0  # DynamoDB (1 KB per unit per item written; transactions count twice)
    read_units: float = 0.0  # DynamoDB (4 KB per unit per item read, strongly consistent)
    s3_bytes: int = 0  # written to S3

    def before(self, event_name: str, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        key = f"{service}.{operation}"
        self.calls[key] = self.calls.get(key, 0) + 1
        body = params.get("body")
        if service == "s3" and operation == "PutObject":
            self.s3_bytes += int(params.get("headers", {}).get("Content-Length", 0) or 0) or _length(body)
        if service == "dynamodb":
            self.write_units += _write_units(operation, json.loads(body) if isinstance(body, bytes) else {})

    def after(self, event_name: str, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        # a Scan is the local account file's save (tradebot_local.account_file), not something AWS runs
        if model.service_model.service_name == "dynamodb" and model.name != "Scan":
            items = list(_read_items(model.name, parsed))
            self.read_units += sum(max(1, math.ceil(_size(i) / 4096)) for i in items)

    def count(self, service: str, operations: tuple[str, ...] | None = None) -> int:
        return sum(
            n
            for k, n in self.calls.items()
            if k.startswith(service + ".") and (operations is None or k.split(".", 1)[1] in operations)
        )


def _length(body: Any) -> int:
    if isinstance(body, bytes | bytearray):
        return len(body)
    if hasattr(body, "seek") and hasattr(body, "tell"):
        position = body.tell()
        size = body.seek(0, 2)
        body.seek(position)
        return int(size)
    return 0


def _size(item: Any) -> int:
    return len(json.dumps(item, separators=(",", ":")))


def _write_units(operation: str, request: dict[str, Any]) -> float:
    if operation == "PutItem":
        return max(1, math.ceil(_size(request.get("Item", {})) / 1024))
    if operation in ("UpdateItem", "DeleteItem"):
        return 1
    if operation == "BatchWriteItem":
        return sum(
            max(1, math.ceil(_size(r.get("PutRequest", {}).get("Item", {})) / 1024))
            for requests in request.get("RequestItems", {}).values()
            for r in requests
        )
    if operation == "TransactWriteItems":
        return 2 * len(request.get("TransactItems", []))
    return 0


def _read_items(operation: str, parsed: dict[str, Any]) -> Any:
    if operation == "GetItem" and "Item" in parsed:
        yield parsed["Item"]
    elif operation in ("Query", "Scan"):
        yield from parsed.get("Items", [])
    elif operation == "BatchGetItem":
        for items in parsed.get("Responses", {}).values():
            yield from items


@dataclass
class Measured:
    report: RunReport
    calls: AwsCalls
    seconds: float

    def cost(self, memory_mb: dict[str, int]) -> dict[str, float]:
        """The modelled AWS cost of this run, by service (USD)."""
        r, c = self.report, self.calls
        children = r.invocations.get("OptimizeStrategyFunction", 0)  # one Standard child execution each
        gb_seconds = sum(s * memory_mb[f] / 1024 for f, s in r.lambda_seconds.items())
        return {
            "step_functions": (r.transitions + children) * price.STEP_FUNCTIONS_PER_TRANSITION,
            "lambda": gb_seconds * price.LAMBDA_ARM_PER_GB_SECOND
            + sum(r.invocations.values()) * price.LAMBDA_PER_REQUEST,
            "dynamodb": c.write_units * price.DYNAMODB_PER_WRITE_UNIT
            + c.read_units * price.DYNAMODB_PER_READ_UNIT,
            # + the Map's ItemReader (one GET) and ResultWriter (one PUT), which the SDK hook does not see
            "s3_requests": (c.count("s3", ("PutObject",)) + 1) * price.S3_PER_PUT
            + (c.count("s3", ("GetObject", "HeadObject")) + 1) * price.S3_PER_GET,
            "s3_storage_month": c.s3_bytes / 1e9 * price.S3_PER_GB_MONTH * 12,  # a run's objects, kept a year
            "sqs": c.count("sqs") * price.SQS_FIFO_PER_REQUEST,
        }


def memory_by_function() -> dict[str, int]:
    template = load_template(TEMPLATE)
    default = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    return {
        logical: int(res["Properties"].get("MemorySize", default))
        for logical, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def alarms() -> int:
    return sum(
        1 for r in load_template(TEMPLATE)["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    )


def fixed_month(spot_discount: float) -> dict[str, float]:
    compute = (
        EXECUTOR_VCPU * price.FARGATE_ARM_PER_VCPU_HOUR + EXECUTOR_GB * price.FARGATE_ARM_PER_GB_HOUR
    ) * price.HOURS_PER_MONTH
    return {
        "executor_fargate": compute * (1 - spot_discount),
        "executor_public_ipv4": price.PUBLIC_IPV4_PER_HOUR * price.HOURS_PER_MONTH,
        "executor_idle_polls": IDLE_POLLS_PER_MONTH * price.SQS_FIFO_PER_REQUEST,
        "cloudwatch_alarms": alarms() * price.CLOUDWATCH_ALARM_PER_MONTH,
    }


def measured_run(source: str, as_of: date, calls: AwsCalls) -> Measured:
    def observe() -> None:
        # the emulator (moto) starts boto3's default session afresh: hook the one the run's clients use
        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("before-call", calls.before)
        session.events.register("after-call", calls.after)

    started = time.perf_counter()
    report = run_pipeline(PipelineRequest(source=source, as_of=as_of), on_deployed=observe)
    return Measured(report, calls, time.perf_counter() - started)


def run_size(n: int, years: int, work: Path) -> dict[str, Any]:
    directory = work / f"universe-{n}"
    started = time.perf_counter()
    write_synthetic_universe(directory, n, date(AS_OF.year - years, AS_OF.month, 1), date(2024, 6, 14))
    generated = time.perf_counter() - started
    os.environ["TRADEBOT_STATE_DIR"] = str(work / f"state-{n}")
    runs = {}
    for label, as_of in (("cold", AS_OF), ("warm", NEXT)):
        runs[label] = measured_run(f"csv:{directory}", as_of, AwsCalls())
        print(
            f"  {n} symbols, {label}: {runs[label].report.status} in {runs[label].seconds:.1f} s",
            file=sys.stderr,
        )
    return {"symbols": n, "generated_s": generated, "runs": runs}


def summarize(result: dict[str, Any], memory: dict[str, int], fixed: dict[str, float]) -> dict[str, Any]:
    n = result["symbols"]
    rows = {}
    for label, m in result["runs"].items():
        r = m.report
        cost = m.cost(memory)
        rows[label] = {
            "status": r.status,
            "seconds": round(m.seconds, 2),
            "ms_per_symbol": round(1000 * m.seconds / n, 2),
            "invocations": {k.removesuffix("Function"): v for k, v in r.invocations.items()},
            "lambda_seconds": {k.removesuffix("Function"): round(v, 2) for k, v in r.lambda_seconds.items()},
            "transitions": r.transitions + r.invocations.get("OptimizeStrategyFunction", 0),
            "largest_payload_bytes": r.largest_payload,
            "orders": len(r.orders),
            "aws_calls": dict(sorted(m.calls.calls.items())),
            "cost_usd": {k: round(v, 6) for k, v in cost.items()},
            "cost_usd_total": round(sum(cost.values()), 6),
        }
    pipeline_month = COLD_RUNS * rows["cold"]["cost_usd_total"] + WARM_RUNS * rows["warm"]["cost_usd_total"]
    return {
        "symbols": n,
        "runs": rows,
        "pipeline_month_usd": round(pipeline_month, 4),
        "bot_month_usd": round(pipeline_month + sum(fixed.values()), 4),
    }


def print_table(results: list[dict[str, Any]], fixed: dict[str, float]) -> None:
    print(f"prices: {price.REGION}, read {price.PRICES_READ} (bench/aws_prices.py); SYNTHETIC universes")
    head = (
        f"{'symbols':>7} {'run':>4} {'status':>9} {'wall s':>7} {'ms/sym':>7} {'invocations F/O/S/P':>20} "
        f"{'transitions':>11} {'max payload B':>13} {'run $':>10}"
    )
    print(head)
    for res in results:
        for label, row in res["runs"].items():
            inv = row["invocations"]
            calls = "/".join(
                str(inv.get(k, 0))
                for k in ("FetchMarketData", "OptimizeStrategy", "GenerateSignals", "PaperTrade")
            )
            print(
                f"{res['symbols']:>7} {label:>4} {row['status']:>9} {row['seconds']:>7.1f} "
                f"{row['ms_per_symbol']:>7.2f} {calls:>20} {row['transitions']:>11} "
                f"{row['largest_payload_bytes']:>13} {row['cost_usd_total']:>10.5f}"
            )
    print(f"\n{'symbols':>7} {'pipeline $/month':>17} {'whole bot $/month':>18}  (3.5 cold + 17.5 warm runs)")
    for res in results:
        print(f"{res['symbols']:>7} {res['pipeline_month_usd']:>17.4f} {res['bot_month_usd']:>18.4f}")
    print("always on, per month: " + ", ".join(f"{k} ${v:.2f}" for k, v in fixed.items()))


def check_goals(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    ok = all(row["status"] == "SUCCEEDED" for res in results for row in res["runs"].values())
    lines.append(f"SUCCEEDED at every size: {'yes' if ok else 'NO'}")
    largest = max(row["largest_payload_bytes"] for res in results for row in res["runs"].values())
    lines.append(f"largest state payload {largest} B < 16 KB: {'yes' if largest < 16 * 1024 else 'NO'}")
    by_size = {res["symbols"]: res for res in results}
    if 500 in by_size and 5000 in by_size:
        for label in ("cold", "warm"):
            small = by_size[500]["runs"][label]["ms_per_symbol"]
            large = by_size[5000]["runs"][label]["ms_per_symbol"]
            lines.append(
                f"ms per symbol, {label}: {small:.2f} at 500 -> {large:.2f} at 5,000 (x{large / small:.2f})"
            )
    if 500 in by_size:
        month = by_size[500]["bot_month_usd"]
        lines.append(f"the whole 500-symbol bot: ${month:.2f} a month (goal: at most $5)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="100,500,2000,5000")
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument(
        "--spot-discount", type=float, default=0.0, help="Fargate Spot discount, 0..1 (0: on demand)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    memory = memory_by_function()
    fixed = fixed_month(args.spot_discount)
    results = []
    with tempfile.TemporaryDirectory(prefix="tradebot-universe-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            results.append(summarize(run_size(n, args.years, Path(tmp)), memory, fixed))
    if args.json:
        print(
            json.dumps(
                {"results": results, "fixed_month_usd": fixed, "goals": check_goals(results)}, indent=2
            )
        )
    else:
        print_table(results, fixed)
        print()
        print("\n".join(check_goals(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
