"""Scale: N concurrent voice sessions, the bare livekit agent against the voicefsm agent (opened
as ``voicefsm start`` opens it), on the same scripted providers and real-time simulated audio.

Every run is a fresh process forked from one fork server (benchmarks/scale_run.py), so no run
inherits another's heap, warm-up or leftover tasks. At each level the two kinds alternate,
``repeats`` times, in an order drawn from a seeded generator (the seed and the orders are
printed and stored). Figures are per run; a level reports, for CPU per turn and for p95 turn
latency, the median of the paired ratios (voicefsm / bare, repeat by repeat) with their min-max.
With 5 repeats the min-max is a 94 % interval for the median ratio (the chance that all five
land on one side of it is 2/32). CPU is process time (user + system, every thread), not wall
time, so other load on the machine changes it far less than latency.

* :func:`scale`: N sessions in one process, N up to 200;
* :func:`processes`: the same with the sessions spread over 1 or 2 worker processes (one spool
  file shared, as a machine's job processes share the default spool): sessions per core at a
  p95 within 10 % of one session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KINDS = ("bare", "voicefsm")
#: A run that cannot even finish (start, converse, close) in this time is reported as such.
RUN_BUDGET_S = 300.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


class ForkServer:
    """benchmarks/scale_run.py --serve: one process with everything imported, forking each run's
    worker processes, as livekit forks its job processes from a forkserver."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._process: asyncio.subprocess.Process | None = None

    async def _start(self) -> asyncio.subprocess.Process:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HERE / "scale_run.py"),
                "--serve",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,  # livekit's warnings; kept out of the console
                start_new_session=True,  # its workers go with it when a run overruns
                limit=2**26,
            )
        assert process.stdout is not None
        ready = await process.stdout.readline()
        if ready.strip() != b"ready":
            msg = f"the scale fork server did not start (see {self._log})"
            raise RuntimeError(msg)
        return process

    async def run(
        self, kind: str, sessions: int, turns: int, workers: int = 1
    ) -> list[dict[str, Any]] | None:
        """One run: ``sessions`` sessions of ``kind`` over ``workers`` processes; their figures,
        or None when the run overran :data:`RUN_BUDGET_S` or a worker failed."""
        if self._process is None or self._process.returncode is not None:
            self._process = await self._start()
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        with tempfile.TemporaryDirectory(prefix="voicefsm-scale-") as tmp:
            order = {
                "kind": kind,
                "sessions": sessions,
                "turns": turns,
                "workers": workers,
                "spool": str(Path(tmp) / "outbox.sqlite3"),
            }
            process.stdin.write(json.dumps(order).encode() + b"\n")
            await process.stdin.drain()
            try:
                line = await asyncio.wait_for(process.stdout.readline(), RUN_BUDGET_S)
            except TimeoutError:
                print(f"   the run overran {RUN_BUDGET_S:.0f} s", flush=True)
                await self.close()
                return None
        results = json.loads(line)
        failed = [result["failed"] for result in results if "failed" in result]
        if failed:
            print(f"   a worker failed: {'; '.join(failed)} (see {self._log})", flush=True)
            return None
        return results

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def _figures(workers: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures (its worker processes together)."""
    latencies = [value for worker in workers for value in worker["latencies_s"]]
    turns = sum(worker["turns"] for worker in workers)
    sessions = sum(worker["sessions"] for worker in workers)
    cpu = sum(worker["cpu_s"] for worker in workers)

    def phase_cpu(name: str) -> float:
        return sum(worker["phases"][name]["cpu_s"] for worker in workers)

    lags = [worker["lag_median_ms"] for worker in workers if worker["lag_median_ms"] is not None]
    lag_tails = [worker["lag_p99_ms"] for worker in workers if worker["lag_p99_ms"] is not None]
    return {
        "sessions": sessions,
        "turns": turns,
        "failures": sum(worker["failures"] for worker in workers),
        "cpu_s": cpu,
        "cpu_s_per_turn": cpu / max(1, turns),
        # The conversation alone (every session started, none closing yet), and what starting
        # and closing a session costs: a call's fixed part, which longer calls amortise.
        "converse_cpu_s_per_turn": phase_cpu("converse") / max(1, turns),
        "start_close_cpu_s_per_session": (phase_cpu("start") + phase_cpu("close")) / sessions,
        "other_threads_cpu_s": sum(worker["other_threads_cpu_s"] for worker in workers),
        "gc_s": sum(sum(worker["gc_s"]) for worker in workers),
        "wall_s": max(worker["wall_s"] for worker in workers),
        "voluntary_switches_per_turn": sum(w["voluntary_switches"] for w in workers)
        / max(1, turns),
        "rss_mb_per_session": statistics.mean(w["rss_mb_per_session"] for w in workers),
        "median_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p95_ms": _quantile(latencies, 0.95) * 1000 if latencies else None,
        "lag_median_ms": max(lags) if lags else None,
        "lag_p99_ms": max(lag_tails) if lag_tails else None,
    }


def _orders(rng: random.Random, repeats: int) -> Iterator[tuple[str, ...]]:
    for _ in range(repeats):
        yield tuple(rng.sample(KINDS, len(KINDS)))


async def _level(
    server: ForkServer,
    rng: random.Random,
    *,
    sessions: int,
    turns: int,
    repeats: int,
    workers: int = 1,
) -> dict[str, Any] | None:
    """``repeats`` runs of each kind, interleaved; None when a run did not complete."""
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    orders = list(_orders(rng, repeats))
    for repeat, order in enumerate(orders, 1):
        for kind in order:
            result = await server.run(kind, sessions, turns, workers)
            if result is None:
                print(f"   N={sessions} ({workers} proc): {kind} did not complete", flush=True)
                return None
            run = _figures(result)
            runs[kind].append(run)
            print(
                f"   N={sessions} ({workers} proc) repeat {repeat} {kind:8}: "
                f"CPU {run['cpu_s_per_turn'] * 1000:6.1f} ms/turn, p95 {run['p95_ms'] or 0:5.0f} ms, "
                f"lag {run['lag_median_ms'] or 0:5.1f}/{run['lag_p99_ms'] or 0:5.0f} ms",
                flush=True,
            )
    return _summary(runs, sessions, workers, orders)


def _ratios(runs: dict[str, list[dict[str, Any]]], key: str) -> list[float]:
    return [
        ours[key] / bare[key]
        for bare, ours in zip(runs["bare"], runs["voicefsm"], strict=True)
        if ours.get(key) and bare.get(key)
    ]


def _summary(
    runs: dict[str, list[dict[str, Any]]], sessions: int, workers: int, orders: list[Any]
) -> dict[str, Any]:
    def kind(name: str) -> dict[str, Any]:
        ordered = runs[name]

        def median(key: str) -> float | None:
            values = [run[key] for run in ordered if run.get(key) is not None]
            return statistics.median(values) if values else None

        keys = (
            "cpu_s_per_turn",
            "converse_cpu_s_per_turn",
            "start_close_cpu_s_per_session",
            "other_threads_cpu_s",
            "gc_s",
            "voluntary_switches_per_turn",
            "rss_mb_per_session",
            "median_ms",
            "p95_ms",
            "lag_median_ms",
            "lag_p99_ms",
        )
        return {
            "runs": ordered,
            "turns": sum(run["turns"] for run in ordered),
            "failures": sum(run["failures"] for run in ordered),
            **{key: median(key) for key in keys},
        }

    summary: dict[str, Any] = {
        "sessions": sessions,
        "workers": workers,
        "orders": [list(order) for order in orders],
        "bare": kind("bare"),
        "voicefsm": kind("voicefsm"),
    }
    for key, name in (
        ("cpu_s_per_turn", "cpu_ratio"),
        ("converse_cpu_s_per_turn", "converse_cpu_ratio"),
        ("start_close_cpu_s_per_session", "start_close_cpu_ratio"),
        ("p95_ms", "p95_ratio"),
    ):
        ratios = _ratios(runs, key)
        summary[name] = spread(ratios) if ratios else None
    return summary


async def scale(levels: list[int], turns: int, repeats: int, seed: int) -> dict[str, Any]:
    """N sessions in one process, for each N in ``levels``."""
    rng = random.Random(seed)  # noqa: S311 (an order of runs, reproducible from its seed)
    print(f"   seed {seed}; {repeats} repeats per level, {turns} turns per session", flush=True)
    server = ForkServer(HERE / "out" / "scale-stderr.log")
    rows: list[dict[str, Any]] = []
    incomplete: list[int] = []
    try:
        for sessions in levels:
            row = await _level(server, rng, sessions=sessions, turns=turns, repeats=repeats)
            if row is None:
                incomplete.append(sessions)
                break
            rows.append(row)
    finally:
        await server.close()
    return {
        "levels": rows,
        "seed": seed,
        "repeats": repeats,
        "turns_per_session": turns,
        "incomplete_levels": incomplete,
    }


def _capacity(
    rows: list[dict[str, Any]], kind: str, reference_p95: float | None, workers: int
) -> dict[str, float | None]:
    """The most sessions whose p95 (median over repeats) stays within 10 % of one session's:
    the largest level measured within it, and where the p95 crosses it, interpolated linearly
    between the levels around it (one session per worker counting as the reference)."""
    if not reference_p95:
        return {"largest_level": None, "interpolated": None}
    limit = reference_p95 * 1.10
    points = [(float(workers), reference_p95)] + [
        (float(row["sessions"]), row[kind]["p95_ms"] or 1e12) for row in rows
    ]
    within = [n for n, p95 in points[1:] if p95 <= limit]
    crossing = None
    for (n0, p0), (n1, p1) in itertools.pairwise(points):
        if p1 > limit >= p0:
            crossing = n0 + (limit - p0) * (n1 - n0) / (p1 - p0)
            break
    return {"largest_level": max(within) if within else None, "interpolated": crossing}


async def processes(
    per_process: list[int], turns: int, repeats: int, seed: int, workers: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    """Sessions spread over 1 and 2 worker processes: p95 against one session's, per level."""
    rng = random.Random(seed)  # noqa: S311 (an order of runs, reproducible from its seed)
    cores = os.cpu_count() or 1
    print(f"   seed {seed}; {repeats} repeats per level, {turns} turns per session", flush=True)
    server = ForkServer(HERE / "out" / "scale-stderr.log")
    result: dict[str, Any] = {"seed": seed, "repeats": repeats, "turns_per_session": turns}
    try:
        reference = await _level(server, rng, sessions=1, turns=turns, repeats=repeats)
        result["one_session"] = reference
        result["workers"] = {}
        for count in workers:
            rows = []
            for share in per_process:
                row = await _level(
                    server,
                    rng,
                    sessions=share * count,
                    turns=turns,
                    repeats=repeats,
                    workers=count,
                )
                if row is None:
                    break
                rows.append(row)
            capacity = {
                kind: _capacity(rows, kind, reference[kind]["p95_ms"] if reference else None, count)
                for kind in KINDS
            }
            used = min(count, cores)
            result["workers"][str(count)] = {
                "levels": rows,
                "cores": used,
                "sessions_within_10pct": capacity,
                "sessions_per_core": {
                    kind: {key: None if n is None else n / used for key, n in figures.items()}
                    for kind, figures in capacity.items()
                },
            }
    finally:
        await server.close()
    return result
