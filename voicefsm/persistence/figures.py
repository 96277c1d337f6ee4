"""An outbox's reading of its spool's figures (pending writes, dead ones, the oldest's age),
which never fails the session that asks.

The readings run on a read-only connection (the process's own for the spool while it is open),
so that they never wait behind a commit that is itself waiting for another process's lock. A
spool that cannot be read (a disk failing, the file removed under us) is logged once, and the
figures are then the outbox's own count: figures never fail a session's ending.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from voicefsm.errors import OutboxError
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.causes import describe_failure
from voicefsm.persistence.spool import Spool, SpoolStatus, read_once

_LOG = logging.getLogger("voicefsm.outbox")
#: How old a reading of the spool's figures opening and closing outboxes may share.
SHARED_READING_S = 1.0


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    pending: int
    status: SpoolStatus | None  # None: the count alone was read
    #: The spool thread's batches committed and relay calls run before the reading began.
    commits: int
    calls: int


#: Each spool thread's last reading per backend (whose rows it counted), shared by the outboxes
#: writing through it for that backend.
_LAST: weakref.WeakKeyDictionary[spool_writer.SpoolWriter, dict[str | None, _Reading]] = (
    weakref.WeakKeyDictionary()
)


def _recent(
    writer: spool_writer.SpoolWriter, destination: str | None, after: int | None, *, full: bool
) -> _Reading | None:
    """The last reading through ``writer``, if under :data:`SHARED_READING_S` old (and, given
    ``after``, begun once that many batches were committed, with no relay call run since: it
    holds every write of the asking outbox then, and no delivery has changed it)."""
    seen = _LAST.get(writer, {}).get(destination)
    if seen is None or time.monotonic() - seen.at > SHARED_READING_S:
        return None
    if full and seen.status is None:
        return None
    if after is not None and (seen.commits < after or seen.calls != writer.calls):
        return None
    return seen


class SpoolFigures:
    """Reads one spool's figures for one outbox: of the rows its relay delivers, those bound
    for ``destination`` and unbound ones (``None``: every row; see :mod:`spool_status`).
    ``own_count`` is the outbox's own count of undelivered spooled writes, the fallback when
    the spool cannot be read."""

    def __init__(
        self, spool_path: Path, own_count: Callable[[], int], destination: str | None = None
    ) -> None:
        self._path = spool_path
        self._own_count = own_count
        self._destination = destination
        self._unreadable = False  # a reading failed (logged once)
        self.degraded = False  # no spool could be opened: there is nothing to read

    async def status(
        self,
        writer: spool_writer.SpoolWriter | None,
        *,
        share: bool = False,
        after: int | None = None,
    ) -> SpoolStatus:
        """Pending and dead counts and the oldest's age; ``share`` and ``after`` as for
        :meth:`pending`."""
        if share and writer is not None:
            recent = _recent(writer, self._destination, after, full=True)
            if recent is not None and recent.status is not None:
                return recent.status
        return await self._read(partial(Spool.status, destination=self._destination), writer)

    async def pending(
        self,
        writer: spool_writer.SpoolWriter | None,
        *,
        share: bool = False,
        after: int | None = None,
    ) -> int:
        """The spool's pending count alone (an index read, not a scan). ``share``: a reading
        through the same spool thread in the last second will do, so sessions opening or
        closing together take one between them; ``after``: only one begun once the thread had
        committed that many batches (an outbox's last: the reading holds all of its writes),
        with no relay call since (a delivery changes the count)."""
        if share and writer is not None:
            recent = _recent(writer, self._destination, after, full=False)
            if recent is not None:
                return recent.pending
        read = partial(Spool.pending, destination=self._destination)
        return (await self._read(read, writer)).pending

    async def _read(
        self, read: Callable[[Spool], SpoolStatus | int], writer: spool_writer.SpoolWriter | None
    ) -> SpoolStatus:
        if self.degraded:
            return SpoolStatus(pending=0, dead=0, oldest_age_s=None)
        try:
            if writer is not None:
                commits, calls = writer.commits, writer.calls  # a change after: seen as one
                figures = await asyncio.to_thread(writer.read, read)
                pending = figures if isinstance(figures, int) else figures.pending
                status = None if isinstance(figures, int) else figures
                readings = _LAST.setdefault(writer, {})
                readings[self._destination] = _Reading(
                    time.monotonic(), pending, status, commits, calls
                )
            else:
                figures = await asyncio.to_thread(read_once, self._path, read)
        except (sqlite3.Error, OSError, OutboxError) as exc:
            if not self._unreadable:
                self._unreadable = True
                _LOG.error(
                    "outbox spool unreadable; figures are this process's own",
                    extra={"spool": str(self._path), "error": describe_failure(exc)},
                )
            return SpoolStatus(pending=self._own_count(), dead=0, oldest_age_s=None)
        if isinstance(figures, int):
            return SpoolStatus(pending=figures, dead=0, oldest_age_s=None)
        return figures
