"""Turn latency: end of the user's speech to the first agent audio, measured at the simulated
speaker for both agents on the same scripted providers.

* added latency: a bare livekit AgentSession agent vs the voicefsm agent, interleaved turn by
  turn (the two sessions run side by side);
* backend isolation: the voicefsm agent with the backend healthy, 2 s slower on every request,
  and down; then every write must reach the backend once it is back.

Scale (N sessions at once) is benchmarks/scale.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sessions import Measured, start_session
from trials.stubs.fault_proxy import Fault, fault_proxy
from voicefsm.backend.client import BackendClient
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.commands import drain
from voicefsm.persistence.outbox import Outbox


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
