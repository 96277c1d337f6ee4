"""Scenarios per minute: ``simulate``'s fast mode beside its real-time mode, in the same run.

The example agent's scenario (five turns, a barge-in, two tool calls, the agent hanging up),
played through the production worker path with an embedded backend: a few copies in real time
(all at once: real time mostly waits), then many copies in fast mode at the CLI's default
concurrency. Each figure is the wall time of the whole suite, the worker's and the backend's
start included, as a CI job would see it.

Then ``voicefsm simulate --fast`` as a command (a fresh process each run: its imports, its
embedded backend, the call, its exit) beside a process that only imports livekit-agents.

    python benchmarks/evals.py [--fast 50] [--real 4] [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicefsm.backend.server.runner import running_backend
from voicefsm.examples.bistro import BistroAgent
from voicefsm.settings import load_settings
from voicefsm.simulation.runner import simulate_suite
from voicefsm.simulation.scenario import load_scenario

#: ``voicefsm simulate``'s default.
CONCURRENCY = 8


async def _suite(copies: int, *, fast: bool, concurrency: int) -> dict[str, Any]:
    scenario = load_scenario(None)
    with tempfile.TemporaryDirectory(prefix="voicefsm-bench-evals-") as directory:
        folder = Path(directory)
        with running_backend(f"sqlite:///{folder / 'backend.sqlite3'}") as url:
            settings = load_settings(spool_path=folder / "spool.sqlite3", backend_url=url)
            started = time.perf_counter()
            result = await simulate_suite(
                [(f"example #{n}", scenario) for n in range(copies)],
                settings,
                concurrency=concurrency,
                fast=fast,
                agent=BistroAgent,
            )
            elapsed = time.perf_counter() - started
    durations = [s["duration_s"] for s in result.sessions if "duration_s" in s]
    passed = sum(1 for s in result.sessions if all(e["ok"] for e in s.get("expectations", [])))
    return {
        "scenarios": copies,
        "concurrency": concurrency,
        "passed": passed,
        "seconds": round(elapsed, 2),
        "per_minute": round(copies / elapsed * 60, 1),
        "median_session_s": round(statistics.median(durations), 2) if durations else None,
    }


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)  # noqa: S603 (our own interpreter)
    return time.perf_counter() - started, done.stdout


def _command(runs: int) -> dict[str, Any]:
    """``voicefsm simulate --fast`` as a user types it (the example scenario, a fresh process,
    its embedded backend), beside the floor any livekit program pays on this machine: a
    process that only imports livekit-agents. Interleaved, ``runs`` of each; wall seconds."""
    simulate, floor, calls = [], [], []
    with tempfile.TemporaryDirectory(prefix="voicefsm-bench-command-") as directory:
        env = {**os.environ, "VOICEFSM_DATA_DIR": directory}
        env.pop("VOICEFSM_BACKEND_URL", None)
        for _ in range(runs):
            seconds, out = _timed(
                [sys.executable, "-m", "voicefsm", "simulate", "--fast", "--json"], env
            )
            simulate.append(seconds)
            calls.append(json.loads(out)["sessions"][0]["duration_s"])
            floor.append(_timed([sys.executable, "-c", "import livekit.agents"], env)[0])

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 2),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
        }

    return {
        "runs": runs,
        "simulate_fast_s": spread(simulate),
        "call_s": spread(calls),
        "import_livekit_agents_s": spread(floor),
    }


async def measure(fast: int = 50, real: int = 4, command_runs: int = 5) -> dict[str, Any]:
    logging.getLogger("livekit").setLevel(logging.ERROR)
    before = os.getloadavg()[0]
    command = _command(command_runs)
    real_time = await _suite(real, fast=False, concurrency=real)
    quick = await _suite(fast, fast=True, concurrency=CONCURRENCY)
    return {
        "command": command,
        "real_time": real_time,
        "fast": quick,
        "speedup": round(quick["per_minute"] / real_time["per_minute"], 1),
        # Fast mode is CPU-bound: what else ran on the machine moves its figure.
        "load_average_1min": [round(before, 1), round(os.getloadavg()[0], 1)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", type=int, default=50, help="scenarios in fast mode")
    parser.add_argument("--real", type=int, default=4, help="scenarios in real time")
    parser.add_argument("--runs", type=int, default=5, help="runs of the command, and its floor")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.fast, args.real, args.runs))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
