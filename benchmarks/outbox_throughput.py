"""Outbox figures: voice-path hand-off, spool commit throughput, delivery throughput, and the
time from submit to durable commit. Each beside a baseline measured in the same run.

The reference backend runs as its own process (``voicefsm backend``) on 127.0.0.1, as it would
in production; with ``--postgres-url`` it is measured on PostgreSQL too. Prints figures and
asserts nothing.

    python benchmarks/outbox_throughput.py [--quick] [--postgres-url URL] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find tests/

from trials.support import free_port, postgres_admin
from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import MessageEvent, Role
from voicefsm.ids import ConversationId
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.relay import RelayPolicy
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget

AT = datetime(2026, 11, 1, tzinfo=UTC)


def events(count: int, session: str) -> list[MessageEvent]:
    return [
        MessageEvent(
            idempotency_key=f"{session}:{i:07d}",
            session_id=session,
            at=AT,
            role=Role.USER if i % 2 else Role.ASSISTANT,
            text=f"A sentence of ordinary length said in turn {i}, about a booking on Friday.",
            turn=i,
        )
        for i in range(count)
    ]


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return statistics.median(ordered) / 1000, ordered[int(0.99 * (len(ordered) - 1))] / 1000


async def handoff(directory: Path, count: int) -> dict[str, dict[str, float]]:
    """Per-call cost on the voice path: submit vs the bare appends it stands beside."""
    batch = events(count, "handoff")
    outbox = Outbox(directory / "handoff.sqlite3", None, max_pending=10 * count)
    await outbox.start()
    sink: list[object] = []
    fifo: queue.SimpleQueue[object] = queue.SimpleQueue()
    samples: dict[str, list[int]] = {
        "list.append": [],
        "SimpleQueue.put": [],
        "Outbox.submit_event": [],
    }
    clock = time.perf_counter_ns
    for chunk in range(0, count, 500):  # interleaved, so drift hits all three alike
        for item in batch[chunk : chunk + 500]:
            start = clock()
            sink.append(item)
            samples["list.append"].append(clock() - start)
        for item in batch[chunk : chunk + 500]:
            start = clock()
            fifo.put(item)
            samples["SimpleQueue.put"].append(clock() - start)
        for item in batch[chunk : chunk + 500]:
            start = clock()
            outbox.submit_event("c1", item)
            samples["Outbox.submit_event"].append(clock() - start)
        await asyncio.sleep(0)
    await outbox.aclose()
    return {
        name: dict(zip(("median_us", "p99_us"), percentiles(ns), strict=True))
        for name, ns in samples.items()
    }


async def spool_commits(directory: Path, count: int) -> dict[str, float]:
    """Writes/s through the outbox's batching writer vs one committed INSERT per write."""
    batch = events(count, "spool")
    baseline_count = max(500, count // 10)
    spool = Spool(directory / "baseline.sqlite3")
    rows = [
        (e.idempotency_key, SpoolTarget.events(ConversationId("c1")).encode(), e.model_dump_json())
        for e in batch[:baseline_count]
    ]
    start = time.perf_counter()
    for row in rows:
        spool.insert([row])
    baseline_rate = baseline_count / (time.perf_counter() - start)
    spool.close()

    committed_at: dict[str, float] = {}
    submitted_at: dict[str, float] = {}

    def on_commit(keys: list[str]) -> None:
        now = time.perf_counter()
        for key in keys:
            committed_at[key] = now

    outbox = Outbox(directory / "spool.sqlite3", None, max_pending=10 * count, on_commit=on_commit)
    await outbox.start()
    start = time.perf_counter()
    for index, item in enumerate(batch):
        submitted_at[item.idempotency_key] = time.perf_counter()
        outbox.submit_event("c1", item)
        if index % 200 == 0:
            await asyncio.sleep(0)  # a voice loop yields between events
    while len(committed_at) < count:
        await asyncio.sleep(0.001)
    rate = count / (time.perf_counter() - start)
    await outbox.aclose()
    latencies = sorted(committed_at[k] - submitted_at[k] for k in submitted_at)
    return {
        "outbox_writes_per_s": rate,
        "one_commit_per_write_per_s": baseline_rate,
        "burst_submit_to_commit_median_ms": statistics.median(latencies) * 1000,
        "burst_submit_to_commit_p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
    }


async def paced_commit_latency(directory: Path, count: int, interval_s: float) -> dict[str, float]:
    """Submit -> durable commit at a voice-like pace (one write per ``interval_s``)."""
    committed_at: dict[str, float] = {}

    def on_commit(keys: list[str]) -> None:
        now = time.perf_counter()
        for key in keys:
            committed_at[key] = now

    outbox = Outbox(directory / "paced.sqlite3", None, on_commit=on_commit)
    await outbox.start()
    submitted_at: dict[str, float] = {}
    for item in events(count, "paced"):
        submitted_at[item.idempotency_key] = time.perf_counter()
        outbox.submit_event("c1", item)
        await asyncio.sleep(interval_s)
    while len(committed_at) < count:
        await asyncio.sleep(0.001)
    await outbox.aclose()
    latencies = sorted(committed_at[k] - submitted_at[k] for k in submitted_at)
    return {
        "writes": count,
        "interval_ms": interval_s * 1000,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
    }


async def fresh_postgres_database(admin_url: str, name: str, *, drop: bool = False) -> str:
    """Create (or drop) a database of our own: the server URL's default one is not ours."""
    statement = (
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"'
    )
    await postgres_admin(admin_url, statement)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


class BackendProcess:
    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(  # noqa: S603 (our own CLI)
            [
                sys.executable,
                "-m",
                "voicefsm",
                "backend",
                "--port",
                str(self.port),
                "--database-url",
                database_url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "VOICEFSM_BACKEND_TOKEN"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)


async def delivery(
    directory: Path, backend_url: str, count: int, batch_size: int, tag: str
) -> float:
    """Delivered events/s from a pre-filled spool to the backend."""
    path = directory / f"deliver-{tag}.sqlite3"
    spool = Spool(path)
    spool.insert(
        (e.idempotency_key, SpoolTarget.events(ConversationId(tag)).encode(), e.model_dump_json())
        for e in events(count, tag)
    )
    spool.close()
    async with httpx.AsyncClient(base_url=backend_url) as http:
        # As `voicefsm outbox drain` delivers a backlog (a session's outbox would first wait
        # for its own writes, and leave rows this fresh to their own session for a few seconds).
        outbox = Outbox(
            path, BackendClient(http), policy=RelayPolicy(batch_size=batch_size), drain_all=True
        )
        start = time.perf_counter()
        await outbox.start()
        left = await outbox.flush(600)
        elapsed = time.perf_counter() - start
        await outbox.aclose()
    if left:
        raise RuntimeError(f"{left} events not delivered")
    return count / elapsed


def report(results: dict[str, Any], databases: list[str], burst: int) -> None:
    print("Voice-path hand-off (per call)              median µs    p99 µs")
    for name, row in results["handoff"].items():
        print(f"  {name:<40}{row['median_us']:>10.2f}{row['p99_us']:>10.2f}")
    spool, paced = results["spool"], results["paced_commit"]
    print(
        f"Spool commits: {spool['outbox_writes_per_s']:,.0f} writes/s batched "
        f"vs {spool['one_commit_per_write_per_s']:,.0f}/s one commit per write"
    )
    print(
        f"Submit -> durable commit, one write every {paced['interval_ms']:.0f} ms: "
        f"median {paced['median_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms"
    )
    print(
        f"  (during the {burst:,}-write burst above, backlog makes it median "
        f"{spool['burst_submit_to_commit_median_ms']:.0f} ms, "
        f"p99 {spool['burst_submit_to_commit_p99_ms']:.0f} ms)"
    )
    for name in databases:
        row = results[f"delivery_{name}"]
        print(
            f"Delivery to the reference backend ({name}): "
            f"{row['batched_events_per_s']:,.0f} events/s batched ({RelayPolicy().batch_size}) "
            f"vs {row['unbatched_events_per_s']:,.0f}/s one per request"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    handoff = results["handoff"]["Outbox.submit_event"]
    delivered = ", ".join(
        f"{name} {verdict(results[f'delivery_{name}']['batched_events_per_s'] >= 2000)}"
        for name in databases
    )
    print(
        f"targets: hand-off median <= 5 µs: {verdict(handoff['median_us'] <= 5)}; "
        f"spool >= 5,000 writes/s: {verdict(spool['outbox_writes_per_s'] >= 5000)}; "
        f"delivery >= 2,000 events/s: {delivered}"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--postgres-url", default=os.environ.get("VOICEFSM_BENCH_POSTGRES_URL"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = (2_000, 2_000, 1_000, 200) if args.quick else (50_000, 50_000, 20_000, 2_000)
    n_handoff, n_spool, n_deliver, n_single = sizes

    results: dict[str, Any] = {}
    databases: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        results["handoff"] = await handoff(directory, n_handoff)
        results["spool"] = await spool_commits(directory, n_spool)
        results["paced_commit"] = await paced_commit_latency(
            directory, 100 if args.quick else 1000, 0.005
        )
        databases["sqlite"] = f"sqlite:///{directory / 'backend.sqlite3'}"
        bench_db = f"voicefsm_bench_{os.getpid()}"
        if args.postgres_url:
            databases["postgresql"] = await fresh_postgres_database(args.postgres_url, bench_db)
        batch = RelayPolicy().batch_size
        for name, url in databases.items():
            backend = BackendProcess(url)
            try:
                results[f"delivery_{name}"] = {
                    "batched_events_per_s": await delivery(
                        directory, backend.url, n_deliver, batch, f"{name}b"
                    ),
                    "unbatched_events_per_s": await delivery(
                        directory, backend.url, n_single, 1, f"{name}u"
                    ),
                }
            finally:
                backend.stop()
        if args.postgres_url:
            await fresh_postgres_database(args.postgres_url, bench_db, drop=True)

    report(results, list(databases), n_spool)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
