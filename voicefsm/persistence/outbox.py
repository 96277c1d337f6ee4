"""The outbox: the only way writes leave a session, and the only part of persistence the voice
path touches.

``submit`` is a non-blocking hand-off (an append; no serialisation, no I/O). The process's
spool writer thread (shared by every outbox on that spool) serialises and commits batches; a
write is *acknowledged* once committed there. The relay then delivers it to the backend, at
least once; idempotency keys make that exactly once in effect. ``flush(deadline)`` delivers what
it can in time and leaves the rest spooled for the next process to open the spool (which resumes
delivery at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import Event, SessionSummary
from voicefsm.errors import OutboxError, SpoolFullError
from voicefsm.ids import ConversationId, SessionId
from voicefsm.persistence import causes, spool_file
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.causes import describe_failure
from voicefsm.persistence.direct import DirectDelivery
from voicefsm.persistence.figures import SpoolFigures
from voicefsm.persistence.relay import Relay, RelayPolicy
from voicefsm.persistence.spool import SpoolStatus
from voicefsm.persistence.stats import OutboxStats
from voicefsm.persistence.targets import SpoolTarget, summary_key
from voicefsm.persistence.writer import CommitListener, LazyBody

__all__ = ["CommitListener", "LazyBody", "Outbox", "OutboxStats"]

_LOG = logging.getLogger("voicefsm.outbox")
#: How long closing waits for the spool to take what was handed over.
CLOSE_DEADLINE_S = 5.0
#: A flush wakes on every commit, delivery or diversion of its writes; this is its backstop
#: (another process delivering our rows tells us nothing).
FLUSH_RECHECK_S = 0.25


class Outbox:
    """Durable, non-blocking writes from a session to the backend.

    With ``client=None`` writes are only spooled (deliver them later with
    ``voicefsm outbox drain``). ``max_pending`` bounds the spool as seen by this process. Its
    figures count the rows its relay delivers, never another backend's (see spool_status).

    A session's outbox delivers its own writes first and other rows once they are a few seconds
    old (their own session's relay is faster). ``drain_all=True`` (a drain: the CLI, a worker
    starting) delivers every row at once, oldest first.
    """

    def __init__(
        self,
        spool_path: Path | str,
        client: BackendClient | None,
        *,
        max_pending: int = 100_000,
        policy: RelayPolicy | None = None,
        on_commit: CommitListener | None = None,
        drain_all: bool = False,
    ) -> None:
        self.spool_path = Path(spool_path)
        self._drain_all = drain_all
        self._client = client
        #: Where its writes are bound (a spool shared with another backend's process keeps
        #: them apart); None without a client: whichever drain delivers them.
        self._destination = None if client is None else client.destination
        self._max_pending = max_pending
        self._policy = policy
        self._external_on_commit = on_commit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: spool_writer.SpoolWriter | None = None
        self._spool_thread: spool_writer.SpoolWriter | None = None  # kept after closing
        self._last_commit = 0  # the spool thread's batch that committed our last write
        self._committed_count = 0
        self._targets: set[str] = set()  # where this outbox's writes go: its relay's first care
        #: Each conversation's spool target, encoded once (a write per utterance is the voice
        #: path's, and a target's encoding costs twenty times a dict lookup).
        self._event_targets: dict[ConversationId, str] = {}
        self._relay: Relay | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._submitted = 0
        self._removed = 0
        self._pending_at_open = 0
        self._refused = 0
        self._diverted_count = 0  # writes the spool writer gave back (on its thread)
        self._degraded = False  # no spool could be opened: every write goes directly
        self._figures = SpoolFigures(self.spool_path, self._own_spooled, self._destination)
        self._direct = DirectDelivery(client, policy, on_removed=self._count_removed)
        self._progress: asyncio.Event | None = None  # set while a flush waits, on each change

    def __repr__(self) -> str:
        return f"Outbox(spool_path={str(self.spool_path)!r}, delivering={self._client is not None})"

    @property
    def destination(self) -> str | None:
        """The backend its writes are bound for and its figures count; None without one."""
        return self._destination

    async def start(self) -> None:
        """Open the spool (resuming delivery of whatever it already holds) and start the relay.

        Never fails the call over the disk: a corrupt spool is moved aside for inspection and
        a fresh one opened; a spool that cannot be opened at all (a directory, another
        program's database, a read-only or full disk) degrades the outbox to direct delivery
        from memory (:attr:`OutboxStats.unspooled`), with one error line naming the cause."""
        self._loop = asyncio.get_running_loop()
        writer, failure = await self._open_writer()
        if failure is not None and causes.is_corrupt(failure):
            try:
                moved = await asyncio.to_thread(spool_file.move_aside, self.spool_path)
            except (OSError, OutboxError) as exc:
                failure = exc
            else:
                _LOG.error(
                    "outbox spool corrupt: moved aside for inspection, a fresh one opened",
                    extra={
                        "spool": str(self.spool_path),
                        "moved_to": str(moved),
                        "error": describe_failure(failure),
                    },
                )
                writer, failure = await self._open_writer()
        if writer is None:
            self._degraded = self._figures.degraded = True
            _LOG.error(
                "outbox spool unusable: writes go directly to the backend, unacknowledged",
                extra={
                    "spool": str(self.spool_path),
                    "error": describe_failure(failure) if failure else "unknown",
                    "backend": self._client is not None,
                },
            )
            return
        self._writer = self._spool_thread = writer
        self._pending_at_open = await self._figures.pending(
            self._writer, share=True
        )  # the bound is a view anyway
        if self._client is not None:
            self._relay = Relay(
                self.spool_path,
                self._client,
                self._policy,
                own_targets=None if self._drain_all else self._own_targets,
                on_removed=self._count_removed,
                own_pending=None if self._drain_all else self._own_pending,
            )
            self._relay_task = asyncio.create_task(self._relay.run(), name="voicefsm-relay")

    async def _open_writer(self) -> tuple[spool_writer.SpoolWriter | None, BaseException | None]:
        writer = spool_writer.acquire(self.spool_path)
        if not writer.ready.is_set():  # the process's spool thread is already up, mostly
            await asyncio.to_thread(writer.ready.wait)
        if writer.failure is None:
            return writer, None
        if spool_writer.release(writer):
            await asyncio.to_thread(writer.join)
        return None, writer.failure

    # -- the voice path --------------------------------------------------------------------------

    def claim(self, conversation_id: ConversationId) -> None:
        """This outbox writes for ``conversation_id``: its relay delivers that conversation's
        spooled rows first, a crashed predecessor's included, however fresh."""
        self._targets.add(self._events_of(conversation_id))

    def submit_event(self, conversation_id: ConversationId, event: Event) -> None:
        """Hand an event over for durable delivery. Never blocks; raises SpoolFullError."""
        self._submit(event.idempotency_key, self._events_of(conversation_id), event)

    def submit_built(
        self, conversation_id: ConversationId, key: str, build: Callable[[], Event]
    ) -> None:
        """Like :meth:`submit_event`, but ``build`` makes the event on the writer thread, so
        the voice path pays only for the hand-off. ``key`` must be the event's idempotency
        key."""
        self._submit(key, self._events_of(conversation_id), build)

    def submit_session(self, summary: SessionSummary) -> None:
        """Hand over a session's final summary (keyed by its session id)."""
        session_id = SessionId(summary.session_id)
        self._submit(summary_key(session_id), SpoolTarget.summary(session_id).encode(), summary)

    def _events_of(self, conversation_id: ConversationId) -> str:
        target = self._event_targets.get(conversation_id)
        if target is None:
            target = SpoolTarget.events(conversation_id).encode()
            self._event_targets[conversation_id] = target
        return target

    def _own_targets(self) -> frozenset[str]:
        return frozenset(self._targets)

    def _own_pending(self) -> bool:
        """Writes of this outbox committed and not yet delivered by its relay."""
        return self._relay is not None and self._committed_count > self._relay.own_removed

    def _submit(self, key: str, target: str, body: LazyBody) -> None:
        """``target``: a :class:`SpoolTarget`, encoded."""
        writer = self._writer
        if writer is None and not self._degraded:
            msg = "the outbox is not started"
            raise OutboxError(msg)
        if self._pending_at_open + self._submitted - self._removed >= self._max_pending:
            self._refused += 1
            msg = f"the outbox spool holds its maximum of {self._max_pending} undelivered writes"
            raise SpoolFullError(msg)
        self._submitted += 1
        self._targets.add(target)
        write = spool_writer.Write(
            key, target, body, self._committed, self._diverted, self._destination
        )
        if writer is None:  # degraded: no spool to take it
            self._take_directly([write])
            return
        writer.submit(write)

    # -- completion, flush, close ----------------------------------------------------------------

    def _committed(self, keys: Sequence[str]) -> None:  # on the writer thread
        if self._spool_thread is not None:  # first: a flush seeing the count sees this too
            self._last_commit = self._spool_thread.commits
        self._committed_count += len(keys)
        if self._external_on_commit is not None:
            self._external_on_commit(keys)
        if self._loop is not None and (self._relay is not None or self._progress is not None):
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to wake
                self._loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        if self._relay is not None:
            self._relay.wake()
        if self._progress is not None:
            self._progress.set()

    def _diverted(self, writes: Sequence[spool_writer.Write]) -> None:  # on the writer thread
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._take_directly, writes)
        except RuntimeError:  # the loop is closed: nothing can deliver them any more
            _LOG.error(
                "outbox writes lost: neither spooled nor delivered", extra={"writes": len(writes)}
            )

    def _take_directly(self, writes: Sequence[spool_writer.Write]) -> None:
        # Counted and queued in one step on the loop, so a flush never sees them in neither.
        self._diverted_count += len(writes)
        self._direct.add(writes)
        if self._progress is not None:
            self._progress.set()

    def _count_removed(self, count: int) -> None:
        self._removed += count
        if self._progress is not None:
            self._progress.set()

    async def flush(self, deadline_s: float) -> int:
        """Commit everything submitted, then deliver until the spool is empty or the deadline
        passes. Returns how many writes are still pending (they stay spooled).

        The deadline is strict: a spool busy with other processes cannot stretch it (the
        pending figure is then this outbox's own count)."""
        progress = self._progress = asyncio.Event()
        try:
            async with asyncio.timeout(deadline_s):
                while True:
                    progress.clear()
                    if self._committed_count + self._diverted_count >= self._submitted:
                        # Without a relay nothing here delivers spooled rows: they stay, and
                        # a reading since our last commit (another outbox's too) holds ours.
                        no_relay = self._relay is None
                        spooled = await self._figures.pending(
                            self._writer, share=no_relay, after=self._last_commit
                        )
                        if (spooled == 0 or self._relay is None) and self._direct.pending == 0:
                            return spooled
                        if self._relay is not None:
                            self._relay.wake()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(progress.wait(), FLUSH_RECHECK_S)
        except TimeoutError:
            return self.undelivered()
        finally:
            self._progress = None

    async def status(self) -> SpoolStatus:
        """The spool's figures; this outbox's own count when the spool cannot be read (a disk
        failing, the file removed under us): figures never fail a session's ending."""
        return await self._figures.status(self._writer)

    def _own_spooled(self) -> int:
        return max(0, self.undelivered() - self._direct.pending)

    def undelivered(self) -> int:
        """Writes submitted here (or spooled when it opened) not yet delivered, by this outbox's
        own count: no disk read."""
        return max(0, self._pending_at_open + self._submitted - self._removed)

    async def stats(self) -> OutboxStats:
        """Its figures; the spool's as read since its last commit (under a second ago, and no
        delivery since: sessions closing together share one reading), or read afresh."""
        status = await self._figures.status(self._writer, share=True, after=self._last_commit)
        relay = self._relay
        direct = self._direct
        return OutboxStats(
            submitted=self._submitted,
            spooled=self._committed_count,
            delivered=(relay.delivered if relay else 0) + direct.delivered,
            dead=(relay.dead if relay else 0) + direct.dead,
            refused=self._refused,
            pending=status.pending + direct.pending,
            oldest_age_s=status.oldest_age_s,
            unspooled=direct.taken,
            lost=direct.lost,
        )

    async def aclose(
        self, *, flush_deadline_s: float = 0.0, close_deadline_s: float = CLOSE_DEADLINE_S
    ) -> int:
        """Flush (optionally), stop the relay, commit what is queued; returns pending writes.

        Waiting for the spool is bounded by ``close_deadline_s``: a failing disk cannot hold
        the job's exit (the writer gives such a commit up within its own budget)."""
        pending = await self.flush(flush_deadline_s) if flush_deadline_s > 0 else 0
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
            self._relay_task = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            if not await writer.committed_so_far(close_deadline_s):  # all this outbox queued
                _LOG.error(
                    "outbox closed before the spool took every write",
                    extra={"spool": str(self.spool_path), "waited_s": close_deadline_s},
                )
            if not flush_deadline_s:
                pending = await self._figures.pending(writer, share=True, after=self._last_commit)
            if spool_writer.release(writer):
                await asyncio.to_thread(writer.join, close_deadline_s)
        await self._direct.aclose()
        return pending
