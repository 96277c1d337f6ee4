"""Scale runs, each in a fresh process: N sessions of one kind (the bare livekit agent, or the
voicefsm agent opened as ``voicefsm start`` opens it), arriving 20 ms apart, each greeting,
taking ``turns`` turns and saying goodbye, all on the process's event loop.

benchmarks/scale.py keeps one of these running as a fork server (``--serve``), as livekit's
job processes come from a forkserver with their modules preloaded: for each run it reads a JSON
line on stdin, forks one process per worker, which runs its share of the sessions, and answers
one JSON line with each worker's figures: process CPU (user + system, every thread), the loop
thread's share, turn latencies, event-loop lag (how late a 10 ms timer fires), voluntary
context switches and RSS growth. A fresh process per run: no run inherits another's heap,
warm-up or leftover tasks. Each forked worker first does what its kind's job process does before
its first job: voicefsm's freezes the heap it preloaded (its ``setup_fnc``), livekit's does nothing.

    python benchmarks/scale_run.py --kind voicefsm --sessions 10 --turns 2 --spool DIR/s.sqlite3
    python benchmarks/scale_run.py --serve    # {"kind", "sessions", "turns", "spool", "workers"}
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sessions import BenchSession, Measured, start_worker_session
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.settings import load_settings
from voicefsm.worker.server import prepare_job_process

#: Short, so that a run's fixed part (greeting, goodbye) stays small beside its turns; both
#: kinds say the same.
GREETING = "Hello Ada."
FAREWELL = "Goodbye."
LAG_PERIOD_S = 0.010
#: Calls arrive one every 20 ms, whatever the kind: each starts on its own schedule, as jobs do
#: in a worker. (Started one after another, a kind whose start awaits more would stretch the
#: start for all, and every session already talking would pump audio, and burn CPU, for longer.)
ARRIVAL_S = 0.020


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _lag_probe(lags: list[float], stop: asyncio.Event) -> None:
    """How late a 10 ms timer fires: what every other callback on this loop waits, too."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(LAG_PERIOD_S)
        lags.append(loop.time() - asked - LAG_PERIOD_S)


class _GcClock:
    """Time spent in garbage collection, by generation (gc.callbacks, on the thread collecting)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        generation = info["generation"]
        self.seconds[generation] += time.thread_time() - self._started
        self.collections[generation] += 1


def prepare(kind: str) -> None:
    """What the kind's job process does before its first job: voicefsm's worker freezes what
    it preloaded (``setup_fnc``); livekit's own default does nothing."""
    if kind == "voicefsm":
        prepare_job_process(None)


async def run(kind: str, sessions: int, turns: int, spool: Path) -> dict[str, Any]:
    settings = load_settings(flush_deadline_s=2.0, spool_path=spool)
    metrics = PrometheusMetrics()
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    peak = {"rss": rss_before}
    stop = asyncio.Event()
    lags: list[float] = []

    async def sample_rss() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], process.memory_info().rss)
            await asyncio.sleep(0.25)

    gc_clock = _GcClock()
    gc.callbacks.append(gc_clock)
    # Nanosecond clocks: the process's (every thread) and this, the event loop's, thread's.
    cpu_before, loop_before = time.process_time(), time.thread_time()
    switches_before = process.num_ctx_switches().voluntary
    wall_before = time.monotonic()
    probes = [asyncio.create_task(_lag_probe(lags, stop)), asyncio.create_task(sample_rss())]
    phases: dict[str, dict[str, float]] = {}

    def phase(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = (time.monotonic(), time.process_time())
        phases[name] = {"wall_s": now[0] - since[0], "cpu_s": now[1] - since[1]}
        return now

    mark = (wall_before, cpu_before)

    async def arrive(index: int) -> BenchSession:
        await asyncio.sleep(index * ARRIVAL_S)
        return await start_worker_session(
            kind, settings, metrics, greeting=GREETING, farewell=FAREWELL
        )

    started = await asyncio.gather(*(arrive(index) for index in range(sessions)))
    mark = phase("start", mark)
    measured = [Measured() for _ in started]
    await asyncio.gather(*(s.converse(turns, m) for s, m in zip(started, measured, strict=True)))
    mark = phase("converse", mark)
    # Sessions end independently in a worker: all at once, not one after another.
    await asyncio.gather(*(session.aclose() for session in started))
    phase("close", mark)
    stop.set()
    await asyncio.gather(*probes)
    gc.callbacks.remove(gc_clock)
    wall = time.monotonic() - wall_before
    cpu, loop_cpu = time.process_time() - cpu_before, time.thread_time() - loop_before
    latencies = [value for m in measured for value in m.latencies_s]
    return {
        "kind": kind,
        "sessions": sessions,
        "turns": len(latencies),
        "failures": sessions * turns - len(latencies),
        "cpu_s": cpu,
        "loop_thread_cpu_s": loop_cpu,
        "other_threads_cpu_s": cpu - loop_cpu,
        "wall_s": wall,
        "phases": phases,
        "gc_s": gc_clock.seconds,
        "gc_collections": gc_clock.collections,
        "voluntary_switches": process.num_ctx_switches().voluntary - switches_before,
        "rss_mb_per_session": (peak["rss"] - rss_before) / sessions / 2**20,
        "latencies_s": latencies,
        "lag_median_ms": statistics.median(lags) * 1000 if lags else None,
        "lag_p99_ms": _quantile(lags, 0.99) * 1000 if lags else None,
    }


def _forked(kind: str, sessions: int, turns: int, spool: Path) -> tuple[int, int]:
    """Fork a worker running ``sessions`` sessions; it writes its figures to a pipe. Returns
    its pid and the pipe's read end."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_end)
        code = 0
        try:
            prepare(kind)
            result = asyncio.run(run(kind, sessions, turns, spool))
            with os.fdopen(write_end, "w") as out:
                out.write(json.dumps(result))
        except BaseException:
            import traceback  # noqa: PLC0415

            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def serve() -> None:
    """The fork server: one JSON line in per run, one JSON line out (a list, one per worker)."""
    print("ready", flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        workers, sessions = order["workers"], order["sessions"]
        shares = [sessions // workers + (i < sessions % workers) for i in range(workers)]
        workers_started = [
            _forked(order["kind"], share, order["turns"], Path(order["spool"])) for share in shares
        ]
        results = []
        for pid, pipe in workers_started:
            with os.fdopen(pipe) as answer:
                text = answer.read()
            _, status = os.waitpid(pid, 0)
            # A worker that died without a word (a signal): its exit status says how.
            results.append(json.loads(text) if text else {"failed": _exit_status(status)})
        print(json.dumps(results), flush=True)


def _exit_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="run as the fork server")
    parser.add_argument("--kind", choices=["bare", "voicefsm"])
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--turns", type=int)
    parser.add_argument("--spool", type=Path, help="the process's spool file")
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    if args.kind is None or args.sessions is None or args.turns is None or args.spool is None:
        parser.error("--kind, --sessions, --turns and --spool, or --serve")
    prepare(args.kind)
    result = asyncio.run(run(args.kind, args.sessions, args.turns, args.spool))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
