"""Run every benchmark, each beside its baseline in the same run; write results.json and RESULTS.md.

    bash benchmarks/run            # full sizes (about 11 minutes on the 2-core VM)
    bash benchmarks/run --quick    # tiny sizes, for CI: checks the benchmarks still work

Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import evals, report, state_ops, tool_calls, turns  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ("voicefsm", "transitions", "livekit-agents", "redis", "sqlalchemy", "httpx")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in packages},
    }


def outbox_figures(quick: bool) -> dict[str, Any]:
    """The outbox benchmark runs as its own process (it starts backend processes of its own)."""
    out = HERE / "out" / "outbox.json"
    out.parent.mkdir(exist_ok=True)
    command = [sys.executable, str(HERE / "outbox_throughput.py"), "--json", str(out)]
    if quick:
        command.append("--quick")
    if os.environ.get("VOICEFSM_TEST_POSTGRES_URL"):
        command += ["--postgres-url", os.environ["VOICEFSM_TEST_POSTGRES_URL"]]
    subprocess.run(command, check=True)  # noqa: S603 (our own script)
    return json.loads(out.read_text())


async def measure(quick: bool, out: Path, only: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    if only is not None:  # one figure measured again, the others kept from the last run
        results = json.loads((out / "results.json").read_text())
        results.setdefault("remeasured", {})[only] = machine()["date"]

    def save() -> None:  # after every step: an interrupted run keeps what it measured
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    steps = [
        ("state_ops", lambda: state_ops.measure(3_000 if quick else 60_000)),
        ("added_latency", lambda: turns.added_latency(3 if quick else 50)),
        ("tool_calls", lambda: tool_calls.measure(5 if quick else 200)),
        ("backend_isolation", lambda: turns.backend_isolation(2 if quick else 10)),
        ("evals", lambda: evals.measure(fast=4 if quick else 50, real=1 if quick else 4)),
        (
            "scale",
            lambda: turns.scale(
                [1, 4] if quick else [1, 10, 50, 100, 200], 2 if quick else 3, 1 if quick else 2
            ),
        ),
    ]
    for name, step in steps:
        if only is not None and name != only:
            continue
        started = time.monotonic()
        print(f"== {name}", flush=True)
        results[name] = await step()
        results[name]["seconds"] = round(time.monotonic() - started, 1)
        print(report.section(name, results[name]), flush=True)
        save()
        if (
            name == "backend_isolation" and only is None
        ):  # the outbox before scale, which can saturate the machine
            print("== outbox", flush=True)
            results["outbox"] = outbox_figures(quick)
            save()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument(
        "--out", type=Path, default=HERE, help="where results.json and RESULTS.md go"
    )
    parser.add_argument(
        "--only",
        choices=["state_ops", "added_latency", "tool_calls", "backend_isolation", "evals", "scale"],
        help="measure this figure again and keep the others from the existing results.json",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite RESULTS.md from the existing results.json",
    )
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        (args.out / "RESULTS.md").write_text(report.markdown(results))
        print(f"wrote {args.out / 'RESULTS.md'}")
        return 0
    started = time.monotonic()
    if args.quick and args.out == HERE:
        args.out = HERE / "out"  # quick figures are not the published ones
    args.out.mkdir(exist_ok=True)
    results = asyncio.run(measure(args.quick, args.out, args.only))
    if args.only is None:
        results["total_seconds"] = round(time.monotonic() - started, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "RESULTS.md").write_text(report.markdown(results))
    print(
        f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'} "
        f"({results['total_seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
