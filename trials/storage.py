"""Storage faults under whole sessions: the disk filling mid-call (space coming back, or not),
the spool at its row limit, and spools that cannot be used at start (corrupt, read-only, a
directory).

Sessions run through ``simulate`` (the production entrypoint, scripted providers, real-time
audio) against the real reference backend on 127.0.0.1. A full or read-only disk is SQLite's own
error (``SQLITE_FULL``, ``SQLITE_READONLY``, raised by a real SQLite connection) raised from the
spool's insert or open: this process runs as root, which no file mode stops. Each trial checks
that every session reached ``exiting`` within its budget, and, once the spool is drained, that
every acknowledged write was applied exactly once and nothing else was. Writes the spool could
not take are delivered directly from memory, never acknowledged: they are *known* (the trial
sees them handed over), so the backend holding them is not an invention, and with the backend
healthy none of them may be lost either.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trials.crash import drain_spool
from trials.faults import SCENARIO
from trials.ledger import account, read_applied
from trials.summary import GroupResult
from trials.support import free_port
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.direct import DirectDelivery
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import session_of
from voicefsm.persistence.writer import Write
from voicefsm.settings import Settings
from voicefsm.simulation.runner import simulate

#: Generous: a session of this scenario takes about 15 s; its shutdown budget adds 13 s.
SESSION_BUDGET_S = 90.0


def sqlite_error(kind: str) -> sqlite3.OperationalError:
    """SQLite's own error for a full (``SQLITE_FULL``) or read-only (``SQLITE_READONLY``) disk,
    raised by a real connection."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "probe.sqlite3"
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
        db = sqlite3.connect(f"file:{path}?mode=ro" if kind == "readonly" else path, uri=True)
        try:
            if kind == "full":
                (pages,) = db.execute("PRAGMA page_count").fetchone()
                db.execute(f"PRAGMA max_page_count = {pages}")
            db.execute("INSERT INTO t VALUES (zeroblob(100000))")
        except sqlite3.OperationalError as exc:
            return exc
        finally:
            db.close()
    raise AssertionError(kind)


@dataclass
class _Ledger:
    """Keys acknowledged (committed) and keys handed over without the spool, from any thread."""

    acked: set[str] = field(default_factory=set)
    unspooled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, keys: Sequence[str]) -> None:
        with self.lock:
            self.acked.update(keys)


@contextmanager
def _patched(owner: type, name: str, replacement: object) -> Iterator[None]:
    original = owner.__dict__[name]
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def _watching_direct(ledger: _Ledger) -> Iterator[None]:
    """Observe (not change) which writes go to the backend without the spool."""
    add = DirectDelivery.add

    def watched(self: DirectDelivery, writes: Sequence[Write]) -> None:
        with ledger.lock:
            ledger.unspooled.update(write.key for write in writes)
        add(self, writes)

    with _patched(DirectDelivery, "add", watched):
        yield


@contextmanager
def _disk_full(after_s: float, for_s: float | None, seen: list[int]) -> Iterator[None]:
    """Every spool insert fails with ``SQLITE_FULL`` from ``after_s`` on, for ``for_s`` seconds
    (None: for good)."""
    full = sqlite_error("full")
    insert = Spool.insert_bound
    start = time.monotonic()

    def failing(self: Spool, rows: Iterable[tuple[str, str, str, str | None]]) -> int:
        elapsed = time.monotonic() - start
        if elapsed >= after_s and (for_s is None or elapsed < after_s + for_s):
            seen[0] += 1
            raise full
        return insert(self, rows)

    with _patched(Spool, "insert_bound", failing):
        yield


@contextmanager
def _unopenable(error: sqlite3.OperationalError, seen: list[int]) -> Iterator[None]:
    def cannot_open(self: Spool, *args: object, **kwargs: object) -> None:
        seen[0] += 1
        raise error

    with _patched(Spool, "__init__", cannot_open):
        yield


@dataclass
class Case:
    name: str
    #: Prepares the spool path; returns the fault context and the settings overrides.
    prepare: Callable[[Path, list[int]], tuple[Any, dict[str, object]]]
    backend_down: bool = False  # deliver after the run (a drain), not during it


def _corrupt(spool: Path, seen: list[int]) -> tuple[Any, dict[str, object]]:
    spool.write_bytes(b"\x00not a database" * 1000)
    seen[0] += 1
    return ExitStack(), {}


def _directory(spool: Path, seen: list[int]) -> tuple[Any, dict[str, object]]:
    spool.mkdir()
    seen[0] += 1
    return ExitStack(), {}


CASES = [
    Case("disk full mid-session, space comes back", lambda _s, n: (_disk_full(3.0, 4.0, n), {})),
    Case("disk full mid-session, for good", lambda _s, n: (_disk_full(3.0, None, n), {})),
    Case(
        "spool at its row limit (5), backend down",
        lambda _s, _n: (ExitStack(), {"spool_max_rows": 5}),
        backend_down=True,
    ),
    Case("corrupt spool at start", _corrupt),
    Case(
        "read-only spool at start",
        lambda _s, n: (_unopenable(sqlite_error("readonly"), n), {}),
    ),
    Case("directory as spool at start", _directory),
]


def _run_case(
    case: Case, sessions: int, backend_url: str, database_url: str, workdir: Path
) -> GroupResult:
    result = GroupResult(f"storage: {case.name}", trials=sessions)
    spool = workdir / f"spool-{free_port()}" / "outbox.sqlite3"
    spool.parent.mkdir(mode=0o700)
    seen = [0]
    fault, overrides = case.prepare(spool, seen)
    ledger = _Ledger()
    target = f"http://127.0.0.1:{free_port()}" if case.backend_down else backend_url
    settings = Settings(backend_url=target, spool_path=spool, flush_deadline_s=3.0, **overrides)
    started = time.monotonic()
    with fault, _watching_direct(ledger):
        outcome = asyncio.run(simulate(SCENARIO, settings, sessions=sessions, on_commit=ledger))
    took = time.monotonic() - started
    result.check(took < SESSION_BUDGET_S, f"the sessions took {took:.0f} s to end")
    reports = outcome.sessions
    result.crashes += sum(1 for s in reports if s["final_state"] != "exiting" or s["stuck"])
    refused = sum(s.get("outbox", {}).get("refused", 0) for s in reports)
    result.faults = seen[0] + refused
    if not case.backend_down:
        lost = sum(s.get("outbox", {}).get("lost", 0) for s in reports)
        result.check(lost == 0, f"{lost} unspooled writes lost with the backend healthy")
    if spool.is_file():
        leftover = drain_spool(spool, backend_url)
        result.check(leftover == 0, f"{leftover} writes still pending after a drain")
    applied = read_applied(
        database_url,
        conversations=[s["conversation_id"] for s in reports if "conversation_id" in s],
        sessions={session_of(key) for key in ledger.acked | ledger.unspooled},
    )
    account(
        result, acknowledged=ledger.acked, applied=applied, known=ledger.unspooled, where=case.name
    )
    if not case.backend_down:
        missing = ledger.unspooled - ledger.acked - applied.keys
        result.check(not missing, f"{len(missing)} unspooled writes never reached the backend")
    if ledger.unspooled:
        result.notes.append(f"{len(ledger.unspooled)} writes delivered without the spool")
    if refused:
        result.notes.append(f"{refused} writes refused by the full spool, the sessions went on")
    return result


def run_storage_faults(*, sessions: int = 2, cases: list[str] | None = None) -> list[GroupResult]:
    """Each case (all, or those named), ``sessions`` concurrent sessions each, one SQLite
    reference backend."""
    results: list[GroupResult] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-storage-")))
        database_url = f"sqlite:///{workdir / 'backend.sqlite3'}"
        backend_url = stack.enter_context(running_backend(database_url))
        for case in CASES:
            if cases is None or case.name in cases:
                results.append(_run_case(case, sessions, backend_url, database_url, workdir))
    return results
