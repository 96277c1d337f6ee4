"""Shared-spool trials: several processes on one spool, each delivering to one of two backends,
the second down while they write (the issue-25 case: a simulator and a worker on one data
directory, production's backend in an outage). Then a drain of the first backend, the second
backend coming up, and a drain of it. Each backend must hold exactly the writes acknowledged for
it: none lost, none applied twice, and none of the other backend's (counted as invented)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from trials.summary import GroupResult
from trials.support import free_port
from voicefsm.backend.server.runner import running_backend

#: One process: ``count`` events for ``url`` through an outbox on ``spool`` (flushed for at most
#: ``flush_s``), then the keys the spool acknowledged, as one JSON line.
_WRITER = """
import asyncio, json, sys
import httpx
from voicefsm.backend.client import BackendClient
from voicefsm.persistence.outbox import Outbox
from trials.support import event

async def main(url, spool, name, count, flush_s):
    acknowledged = []
    async with httpx.AsyncClient(base_url=url) as http:
        outbox = Outbox(spool, BackendClient(http, write_timeout_s=1.0),
                        on_commit=acknowledged.extend)
        await outbox.start()
        for i in range(count):
            outbox.submit_event(f"c-{name}-{i % 3}", event(i, session=name))
            if i % 10 == 9:
                await asyncio.sleep(0.01)
        await outbox.flush(flush_s)
        await outbox.aclose()
    print(json.dumps(acknowledged))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
"""
_ROOT = Path(__file__).parents[1]


def _writers(spool: Path, plan: list[tuple[str, str, int]], flush_s: float) -> dict[str, set[str]]:
    """Run each (backend url, name, count) writer at once; their acknowledged keys by url."""
    processes = [
        (
            url,
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, url, str(spool), name, str(count), str(flush_s)],
                stdout=subprocess.PIPE,
                cwd=_ROOT,
                text=True,
            ),
        )
        for url, name, count in plan
    ]
    acknowledged: dict[str, set[str]] = {}
    for url, process in processes:
        out, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            msg = f"a writer exited {process.returncode}"
            raise RuntimeError(msg)
        acknowledged.setdefault(url, set()).update(json.loads(out.strip().splitlines()[-1]))
    return acknowledged


def _drain(spool: Path, url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "voicefsm", "outbox", "drain", "--spool", str(spool),
         "--backend-url", url, "--timeout", "20"],
        cwd=_ROOT, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def _stored(database: Path) -> list[str]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        return [key for (key,) in db.execute("SELECT idempotency_key FROM events")]


def _serve(port: int, database: Path) -> subprocess.Popen[bytes]:
    """The second backend, on the port its writers were given while it was down."""
    backend = subprocess.Popen(
        [sys.executable, "-m", "voicefsm", "backend", "--port", str(port),
         "--database-url", f"sqlite:///{database}"],
        cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        return backend
    backend.kill()
    msg = "the second backend did not start"
    raise RuntimeError(msg)


def run_shared_spool(*, processes: int = 2, per_process: int = 40) -> GroupResult:
    result = GroupResult("shared spool: processes to two backends, one spool")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voicefsm-shared-spool-") as tmp:
        spool = Path(tmp) / "spool" / "outbox.sqlite3"
        first_db, second_db = Path(tmp) / "first.sqlite3", Path(tmp) / "second.sqlite3"
        port = free_port()
        second = f"http://127.0.0.1:{port}"
        with running_backend(f"sqlite:///{first_db}") as first:
            plan = [
                (first if i % 2 == 0 else second, f"p{i}", per_process) for i in range(processes)
            ]
            acknowledged = _writers(spool, plan, flush_s=2.0)
            _drain(spool, first)  # the first backend's drain: it must leave the others' rows
            stored_first = _stored(first_db)
        backend = _serve(port, second_db)
        try:
            _drain(spool, second)
        finally:
            backend.terminate()
            backend.wait(timeout=30)
        stored_second = _stored(second_db)
    for url, stored in ((first, stored_first), (second, stored_second)):
        mine = acknowledged.get(url, set())
        keys = set(stored)
        result.trials += 1
        result.acknowledged += len(mine)
        result.delivered += len(keys & mine)
        result.lost += len(mine - keys)
        result.invented += len(keys - mine)
        result.duplicated += len(stored) - len(keys)
    result.faults = 1  # the second backend's outage
    result.check(result.acknowledged == processes * per_process, "writes went unacknowledged")
    result.notes.append(
        f"{processes} processes, {per_process} writes each, {time.monotonic() - started:.0f} s"
    )
    return result
