"""Turn latency: end of the user's speech to the first agent audio, measured at the simulated
speaker for both agents on the same scripted providers.

* added latency: a bare livekit AgentSession agent vs the voicefsm agent, interleaved turn by
  turn (the two sessions run side by side);
* backend isolation: the voicefsm agent with the backend healthy, 2 s slower on every request,
  and down; then every write must reach the backend once it is back;
* scale: N concurrent sessions of each kind in one process: CPU seconds per turn, RSS per
  session, p95 latency.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sessions import Measured, start_session
from trials.stubs.fault_proxy import Fault, fault_proxy
from voicefsm.backend.client import BackendClient
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.commands import drain
from voicefsm.persistence.outbox import Outbox

LEVEL_BUDGET_S = 40.0


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"turns": 0}
    ordered = sorted(values)
    return {
        "turns": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
    }


async def added_latency(turns: int) -> dict[str, Any]:
    """Bare vs voicefsm, side by side, each ``turns`` turns."""
    bare, ours = Measured(), Measured()
    sessions = [await start_session("bare"), await start_session("voicefsm")]
    await asyncio.gather(sessions[0].converse(turns, bare), sessions[1].converse(turns, ours))
    for session in sessions:
        await session.aclose()
    result = {"bare": _stats(bare.latencies_s), "voicefsm": _stats(ours.latencies_s)}
    result["failures"] = bare.failures + ours.failures
    if bare.latencies_s and ours.latencies_s:
        result["ratio_median"] = result["voicefsm"]["median_ms"] / result["bare"]["median_ms"]
        result["added_median_ms"] = result["voicefsm"]["median_ms"] - result["bare"]["median_ms"]
    return result


async def _with_backend(url: str, spool: Path, turns: int) -> tuple[Measured, int]:
    measured = Measured()
    async with httpx.AsyncClient(base_url=url) as http:
        client = BackendClient(http, read_deadline_s=0.5)
        outbox = Outbox(spool, client)
        await outbox.start()
        session = await start_session("voicefsm", outbox=outbox, client=client)
        await session.converse(turns, measured)
        await session.aclose()
        stats = await outbox.stats()
        await outbox.aclose()
    return measured, stats.spooled


async def backend_isolation(turns: int) -> dict[str, Any]:
    """Healthy, +2 s per request, down: turn latency, and no write lost."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        database = directory / "backend.sqlite3"
        with running_backend(f"sqlite:///{database}") as url:
            healthy, spooled_healthy = await _with_backend(url, directory / "a.sqlite3", turns)
            with fault_proxy(url) as proxy:
                proxy.always = Fault("delay_before", delay_s=2.0)
                slow, spooled_slow = await _with_backend(proxy.url, directory / "b.sqlite3", turns)
            down, spooled_down = await _with_backend(
                "http://127.0.0.1:9", directory / "c.sqlite3", turns
            )
            # The backend is back: whatever is still spooled is delivered, then counted.
            for name in ("a", "b", "c"):
                await drain(directory / f"{name}.sqlite3", url, None, 60)
        with sqlite3.connect(database) as db:
            (stored,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
            (summaries,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
    spooled = spooled_healthy + spooled_slow + spooled_down
    result["healthy"] = _stats(healthy.latencies_s)
    result["slow_2s"] = _stats(slow.latencies_s)
    result["down"] = _stats(down.latencies_s)
    for name in ("slow_2s", "down"):
        if result[name].get("turns") and result["healthy"].get("turns"):
            result[name]["ratio_median"] = (
                result[name]["median_ms"] / result["healthy"]["median_ms"]
            )
    result["writes"] = {
        "acknowledged": spooled,
        "delivered": stored + summaries,
        "lost": spooled - (stored + summaries),
    }
    return result


async def _scale_level(kind: str, sessions: int, turns: int) -> dict[str, Any]:
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    cpu_before = sum(process.cpu_times()[:2])
    peak = {"rss": rss_before}

    async def sample() -> None:
        while True:
            peak["rss"] = max(peak["rss"], process.memory_info().rss)
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    with tempfile.TemporaryDirectory() as tmp:
        outbox = None
        if kind == "voicefsm":  # one spool per process, as in a worker
            outbox = Outbox(Path(tmp) / "spool.sqlite3", None)
            await outbox.start()
        started = [await start_session(kind, outbox=outbox) for _ in range(sessions)]
        measured = [Measured() for _ in started]
        await asyncio.gather(
            *(s.converse(turns, m) for s, m in zip(started, measured, strict=True))
        )
        # Sessions end independently in a worker; closing them one after another would keep
        # the others pumping audio (and burning CPU) while each said goodbye in turn.
        await asyncio.gather(*(session.aclose() for session in started))
        if outbox is not None:
            await outbox.aclose()
    sampler.cancel()
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    latencies = [value for m in measured for value in m.latencies_s]
    return {
        "sessions": sessions,
        "cpu_s": cpu,
        "rss_mb_per_session": (peak["rss"] - rss_before) / sessions / 2**20,
        "latencies_s": latencies,
    }


def _combine(runs: list[dict[str, Any]], sessions: int, turns: int) -> dict[str, Any]:
    """One kind's figures at one level over its repeated runs."""
    latencies = [value for run in runs for value in run["latencies_s"]]
    return {
        "sessions": sessions,
        "runs": len(runs),
        "turns": len(latencies),
        "failures": len(runs) * sessions * turns - len(latencies),
        "cpu_s_per_turn": sum(run["cpu_s"] for run in runs) / max(1, len(latencies)),
        "rss_mb_per_session": statistics.mean(run["rss_mb_per_session"] for run in runs),
        "latency": _stats(latencies),
    }


async def _bounded_level(kind: str, sessions: int, turns: int) -> dict[str, Any] | None:
    """A level that cannot even finish (start, converse, close) in its budget is reported as
    such, so a saturated machine cannot hold the suite."""
    try:
        return await asyncio.wait_for(_scale_level(kind, sessions, turns), LEVEL_BUDGET_S * 3)
    except TimeoutError:
        return None


async def scale(levels: list[int], turns: int, repeats: int) -> dict[str, Any]:
    """Each level ``repeats`` times per kind, the kinds alternating which goes first (the
    first run in a process pays for warm-up and heap growth); CPU per turn over all runs."""
    rows: list[dict[str, Any]] = []
    incomplete: list[int] = []
    for sessions in levels:
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "voicefsm": []}
        for repeat in range(repeats):
            order = ("bare", "voicefsm") if repeat % 2 == 0 else ("voicefsm", "bare")
            for kind in order:
                run = await _bounded_level(kind, sessions, turns)
                if run is not None:
                    runs[kind].append(run)
        if len(runs["bare"]) < repeats or len(runs["voicefsm"]) < repeats:
            incomplete.append(sessions)
            print(
                f"   N={sessions}: did not complete within {LEVEL_BUDGET_S * 3:.0f} s", flush=True
            )
            break
        bare = _combine(runs["bare"], sessions, turns)
        ours = _combine(runs["voicefsm"], sessions, turns)
        print(
            f"   N={sessions}: turns bare {bare['turns']}, voicefsm {ours['turns']}; "
            f"p95 voicefsm {ours['latency'].get('p95_ms', 0):.0f} ms",
            flush=True,
        )
        rows.append(
            {
                "sessions": sessions,
                "bare": bare,
                "voicefsm": ours,
                "cpu_ratio": ours["cpu_s_per_turn"] / max(bare["cpu_s_per_turn"], 1e-9),
                "extra_mb_per_session": ours["rss_mb_per_session"] - bare["rss_mb_per_session"],
            }
        )
    base = rows[0]["voicefsm"]["latency"].get("p95_ms") if rows else None
    within = [
        r["sessions"]
        for r in rows
        if base and r["voicefsm"]["latency"].get("p95_ms", 1e9) <= base * 1.10
    ]
    return {
        "levels": rows,
        "repeats": repeats,
        "turns_per_session": turns,
        "incomplete_levels": incomplete,
        "largest_n_within_10pct_of_n1_p95": max(within) if within else None,
    }
