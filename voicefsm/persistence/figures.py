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
from collections.abc import Callable
from functools import partial
from pathlib import Path

from voicefsm.errors import OutboxError
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.causes import describe_failure
from voicefsm.persistence.spool import Spool, SpoolStatus, read_once

_LOG = logging.getLogger("voicefsm.outbox")
#: How old a reading of the spool's pending count opening and closing outboxes may share.
SHARED_READING_S = 1.0


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

    async def status(self, writer: spool_writer.SpoolWriter | None) -> SpoolStatus:
        return await self._read(partial(Spool.status, destination=self._destination), writer)

    async def pending(
        self,
        writer: spool_writer.SpoolWriter | None,
        *,
        share: bool = False,
        committed: bool = False,
    ) -> int:
        """The spool's pending count alone (an index read, not a scan). ``share``: a reading
        this process took in the last second will do (``committed=True``: and nothing was
        committed since), so sessions opening or closing together take one between them."""
        if share and writer is not None:
            recent = writer.recent_pending(
                SHARED_READING_S, committed=committed, destination=self._destination
            )
            if recent is not None:
                return recent
        read = partial(Spool.pending, destination=self._destination)
        return (await self._read(read, writer)).pending

    async def _read(
        self, read: Callable[[Spool], SpoolStatus | int], writer: spool_writer.SpoolWriter | None
    ) -> SpoolStatus:
        if self.degraded:
            return SpoolStatus(pending=0, dead=0, oldest_age_s=None)
        try:
            if writer is not None:
                figures = await asyncio.to_thread(
                    partial(writer.read, read, destination=self._destination)
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
