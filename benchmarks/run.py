"""Run every benchmark, each beside its baseline in the same run; write results.json and RESULTS.md.

    bash benchmarks/run                  # full sizes (about 20 minutes on the 2-core VM)
    bash benchmarks/run --quick          # tiny sizes, for CI: checks the benchmarks still work
    bash benchmarks/run --only scale     # one step again (here: scale), the others kept
    bash benchmarks/run --only processes --seed 7   # the kinds' order drawn from seed 7

Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
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

from benchmarks import evals, flow_steps, report, scale, state_ops, tool_calls, turns  # noqa: E402

#: Scale: sessions per process at each level, repeats per level and kind, turns per session.
SCALE_LEVELS, SCALE_QUICK_LEVELS = [1, 10, 50, 100, 200], [1, 4]
SCALE_REPEATS, SCALE_TURNS = 5, 2
#: Sessions per worker process tried with 1 and with 2 worker processes.
PROCESS_LEVELS, PROCESS_QUICK_LEVELS = [10, 25, 40], [2]
PROCESS_REPEATS = 2
STEPS = [
    "state_ops",
    "added_latency",
    "tool_calls",
    "flow_steps",
    "backend_isolation",
    "evals",
    "scale",
    "processes",
]


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


async def measure(quick: bool, out: Path, only: str | None, seed: int) -> dict[str, Any]:
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
        ("flow_steps", lambda: flow_steps.measure(6 if quick else 200)),
        ("backend_isolation", lambda: turns.backend_isolation(2 if quick else 10)),
        (
            "evals",
            lambda: evals.measure(
                fast=4 if quick else 50, real=1 if quick else 4, command_runs=2 if quick else 5
            ),
        ),
        (
            "scale",
            lambda: scale.scale(
                SCALE_QUICK_LEVELS if quick else SCALE_LEVELS,
                1 if quick else SCALE_TURNS,
                2 if quick else SCALE_REPEATS,
                seed,
            ),
        ),
        (
            "processes",
            lambda: scale.processes(
                PROCESS_QUICK_LEVELS if quick else PROCESS_LEVELS,
                1 if quick else SCALE_TURNS,
                1 if quick else PROCESS_REPEATS,
                seed + 1,
            ),
        ),
    ]
    for name, step in steps:
        if only is not None and name != only:
            continue
        started, load = time.monotonic(), os.getloadavg()[0]
        print(f"== {name} (load average {load:.2f})", flush=True)
        results[name] = await step()
        results[name]["seconds"] = round(time.monotonic() - started, 1)
        # Other work on the machine skews latency (CPU time far less): say how busy it was.
        results[name]["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
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
        choices=STEPS,
        help="measure this figure again and keep the others from the existing results.json",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the scale steps' order of kinds (default: drawn at random, printed and stored)",
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
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    results = asyncio.run(measure(args.quick, args.out, args.only, seed))
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
