"""The spool thread: one thread and one SQLite connection per spool file per process, shared by
every outbox (session) and relay in the process.

Sessions run as threads of one process in ``voicefsm simulate`` and in livekit's thread
executor. A writer and a relay connection per session meant dozens of connections per process
taking the spool's write lock in turn; at a hundred sessions over four processes the spool
stalled for good. One connection per process batches every session's writes into one
transaction and runs the relays' calls in between, so only processes contend for the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from voicefsm.persistence import causes
from voicefsm.persistence.spool import Spool

_LOG = logging.getLogger("voicefsm.outbox")
_BATCH = 1024
T = TypeVar("T")

Body = BaseModel | str
#: A body, or a function building it: called on the writer thread, off the voice path.
LazyBody = Body | Callable[[], Body]
#: Told the keys of a batch once committed (acknowledged); runs on the writer thread.
CommitListener = Callable[[Sequence[str]], None]


#: Handed the writes of a batch the spool could not take (the commit was given up); runs on
#: the writer thread.
DivertListener = Callable[[Sequence["Write"]], None]

#: How long a commit failing for another reason than contention is retried before it is given
#: up and its writes handed back (to be delivered directly): a full or failing disk does not
#: heal in seconds, and a session's flush and the job's shutdown must not wait on it. After a
#: give-up, later batches try once until a commit succeeds again.
GIVE_UP_AFTER_S = 2.0
#: Contention (other processes holding the write lock past the busy timeout) does clear.
BUSY_GIVE_UP_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Write:
    key: str
    target: str
    body: LazyBody
    listener: CommitListener
    diverted: DivertListener
    #: The backend it is bound for (``BackendClient.destination``); None: whichever delivers.
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    """A relay's spool operation, run on the thread's connection."""

    function: Callable[[Spool], object]
    future: Future[object]


@dataclass(frozen=True, slots=True)
class _Barrier:
    """Reached once everything queued before it is committed."""

    done: threading.Event = field(default_factory=threading.Event)
    #: Also told, on this thread (an event loop's waiter, instead of a thread blocked on done).
    reached: Callable[[], None] | None = None

    def reach(self) -> None:
        self.done.set()
        if self.reached is not None:
            self.reached()


class SpoolWriter(threading.Thread):
    """Commits queued writes in batches, in order; retries a failed commit within a budget,
    then hands its writes back to their outbox (:data:`DivertListener`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="voicefsm-spool-writer", daemon=True)
        # None asks the writer to stop once everything before it is committed.
        self.queue: queue.SimpleQueue[Write | _Call | _Barrier | None] = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self.users = 0  # outboxes sharing it (guarded by the registry's lock)
        self._path = path
        self._failing = False  # a commit was given up, none has succeeded since
        self._told = causes.Told(_LOG)
        self._reader: tuple[Spool, tuple[int, int]] | None = None
        self._reader_lock = threading.Lock()
        self._commits = 0  # batches committed so far
        #: The last pending count read per backend (see :meth:`read`): (when, count, commits then).
        self._pending_seen: dict[str | None, tuple[float, int, int]] = {}

    def run(self) -> None:
        try:
            spool = Spool(self._path)
        except BaseException as exc:  # an unusable spool must surface at start(), not be lost
            self.failure = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            while self._round(spool):
                pass
        finally:
            spool.close()
            with self._reader_lock:
                if self._reader is not None:
                    self._reader[0].close()
                    self._reader = None

    def _round(self, spool: Spool) -> bool:
        """Commit one batch; False once asked to stop."""
        batch: list[Write] = []
        calls: list[_Call] = []
        barriers: list[_Barrier] = []
        item = self.queue.get()
        stopping = False
        while True:
            if item is None:
                stopping = True
                break
            if isinstance(item, _Barrier):
                barriers.append(item)
            elif isinstance(item, _Call):
                calls.append(item)
            else:
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
        if batch:
            self._commit(spool, batch)
        for call in calls:
            if call.future.set_running_or_notify_cancel():
                try:
                    call.future.set_result(call.function(spool))
                except BaseException as exc:  # the caller gets it, the thread goes on
                    call.future.set_exception(exc)
        for barrier in barriers:  # after the commit: everything before them is in
            barrier.reach()
        return not stopping

    def _commit(self, spool: Spool, batch: list[Write]) -> None:
        rows = []
        for write in batch:
            body = write.body() if callable(write.body) else write.body
            text = body if isinstance(body, str) else body.model_dump_json(by_alias=True)
            rows.append((write.key, write.target, text, write.destination))
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                spool.insert_bound(rows)
            except Exception as exc:  # e.g. disk full, or locked past the busy timeout
                self._told.failing(
                    causes.error_name(exc),
                    "outbox spool write failed: " + causes.meaning(exc),
                    level=logging.ERROR,
                    rows=len(rows),
                    error=causes.describe_failure(exc),  # SQLite's own words, never row data
                    spool=str(self._path),
                )
                budget = BUSY_GIVE_UP_AFTER_S if causes.is_busy(exc) else GIVE_UP_AFTER_S
                if self._failing and not causes.is_busy(exc):
                    budget = 0.0
                if time.monotonic() - started + delay > budget:
                    self._failing = True
                    self._give_up(batch)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            break
        self._failing = False
        self._commits += 1
        self._told.recovered("outbox spool writable again", spool=str(self._path))
        by_listener: dict[CommitListener, list[str]] = defaultdict(list)
        for write in batch:
            by_listener[write.listener].append(write.key)
        for listener, keys in by_listener.items():
            try:
                listener(keys)
            except Exception:  # one outbox's listener must not stop every other's commits
                _LOG.exception("outbox commit listener failed")

    def _give_up(self, batch: list[Write]) -> None:
        by_listener: dict[DivertListener, list[Write]] = defaultdict(list)
        for write in batch:
            by_listener[write.diverted].append(write)
        for listener, writes in by_listener.items():
            try:
                listener(writes)
            except Exception:  # one outbox's listener must not stop every other's writes
                _LOG.exception("outbox divert listener failed")

    def call(self, function: Callable[[Spool], T]) -> Future[T]:
        """Run ``function`` on this thread's connection (after any writes queued before it)."""
        future: Future[T] = Future()
        self.queue.put(_Call(function, future))  # type: ignore[arg-type]
        return future

    def read(self, function: Callable[[Spool], T], *, destination: str | None = None) -> T:
        """Run ``function`` on this process's read-only connection to the spool, from any
        thread but the loop's (figures: they never wait behind a commit that waits for another
        process's lock). One connection, kept while the spool is in use, instead of one opened
        per reading; reopened when the path names another file (moved aside, replaced).

        A pending figure it returns is kept as ``destination``'s (whose rows it counted), for
        :meth:`recent_pending`."""
        with self._reader_lock:
            info = os.stat(self._path)  # the file removed under us: the caller's OSError
            identity = (info.st_dev, info.st_ino)
            if self._reader is not None and self._reader[1] != identity:
                self._reader[0].close()
                self._reader = None
            if self._reader is None:
                self._reader = (Spool(self._path, readonly=True, shared=True), identity)
            commits = self._commits  # before the reading: a commit during it makes it stale
            try:
                result = function(self._reader[0])
            except BaseException:
                self._reader[0].close()  # whatever failed, the next reading starts afresh
                self._reader = None
                raise
        pending = result if isinstance(result, int) else getattr(result, "pending", None)
        if isinstance(pending, int):
            self._pending_seen[destination] = (time.monotonic(), pending, commits)
        return result

    def recent_pending(
        self, within_s: float, *, committed: bool = False, destination: str | None = None
    ) -> int | None:
        """The pending count of ``destination``'s rows as last read here, if that was less than
        ``within_s`` seconds ago (and, with ``committed``, nothing was committed here since)."""
        seen = self._pending_seen.get(destination)
        if seen is None or time.monotonic() - seen[0] > within_s:
            return None
        if committed and seen[2] != self._commits:
            return None
        return seen[1]

    def barrier(self, reached: Callable[[], None] | None = None) -> threading.Event:
        """An event set once everything queued so far is committed; ``reached`` is called then
        too (on this thread: it must not block)."""
        barrier = _Barrier(reached=reached)
        self.queue.put(barrier)
        return barrier.done

    async def committed_so_far(self, deadline_s: float) -> bool:
        """Wait, at most ``deadline_s``, until everything queued so far is committed; False if
        it was not by then. Woken by this thread itself, not by a pool thread blocked on it."""
        loop = asyncio.get_running_loop()
        reached: asyncio.Future[None] = loop.create_future()

        def tell_loop() -> None:  # on this thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits now
                loop.call_soon_threadsafe(_resolve, reached)

        self.barrier(tell_loop)
        try:
            await asyncio.wait_for(reached, deadline_s)
        except TimeoutError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_REGISTRY: dict[Path, SpoolWriter] = {}
_REGISTRY_LOCK = threading.Lock()


def acquire(path: Path) -> SpoolWriter:
    """This process's writer for ``path`` (started on first use); pair with :func:`release`.
    Check ``ready``/``failure`` before use."""
    key = path.resolve()
    with _REGISTRY_LOCK:
        writer = _REGISTRY.get(key)
        if writer is None or writer.failure is not None:
            writer = SpoolWriter(path)
            writer.start()
            _REGISTRY[key] = writer
        writer.users += 1
        return writer


def release(writer: SpoolWriter) -> bool:
    """Done with ``writer``; the last user stops it. True if this call stopped it (the caller
    then joins it, off the event loop)."""
    with _REGISTRY_LOCK:
        writer.users -= 1
        if writer.users > 0:
            return False
        for key, registered in list(_REGISTRY.items()):
            if registered is writer:
                del _REGISTRY[key]
        writer.queue.put(None)
        return True
