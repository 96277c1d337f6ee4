"""The outbox's durable spool: a local SQLite file (WAL) holding every write not yet delivered.

A write is *acknowledged* once its insert has committed here. The voice path never touches this
module: the outbox's writer thread and relay do (blocking calls, off the event loop).

Rows are leased to the process delivering them, so that several processes sharing one spool do
not all send the same rows; a lease whose owner process has died is free at once, so a new process
resumes a crashed one's deliveries without waiting. Delivered rows are deleted; rows the backend
refuses for good are kept, marked dead, for an operator to inspect. Each row is bound for one
backend (``destination``): a relay leases only its own backend's rows.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from voicefsm.ids import ConversationId, SessionId
from voicefsm.persistence import spool_clock, spool_file, spool_status
from voicefsm.persistence.spool_lock import Transaction, process_alive, process_lock
from voicefsm.persistence.spool_status import SpoolStatus
from voicefsm.persistence.targets import SpoolTarget, session_key_pattern

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    target          TEXT    NOT NULL,   -- 'events:<conversation_id>' or 'session:<session_id>'
    body            TEXT    NOT NULL,   -- the JSON to send
    created_at      REAL    NOT NULL,   -- unix time, for the oldest-pending age
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_before      REAL    NOT NULL DEFAULT 0,
    lease_owner     INTEGER,            -- pid of the leasing process (for liveness)
    lease_token     TEXT,               -- which relay in that process
    lease_until     REAL    NOT NULL DEFAULT 0,
    dead            INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_boot    REAL,               -- the boot clock then, for a true age (see spool_clock)
    boot            INTEGER,            -- which boot that clock belongs to
    destination     TEXT                -- the backend it is bound for (NULL: any, as before)
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (dead, seq);
"""
#: Columns added since the first spools, added to an older spool when it is opened.
_ADDED_COLUMNS = (("created_boot", "REAL"), ("boot", "INTEGER"), ("destination", "TEXT"))
#: Made once the columns are there: each backend's pending figure is an index read.
_ADDED_INDEXES = "CREATE INDEX IF NOT EXISTS outbox_bound ON outbox (dead, destination);"

__all__ = ["Spool", "SpoolRow", "SpoolStatus", "read_once", "read_status"]


@dataclass(frozen=True, slots=True)
class SpoolRow:
    seq: int
    key: str
    target: str
    body: str
    attempts: int


class Spool:
    """One connection to the spool file. Not thread-safe: give each thread its own."""

    def __init__(self, path: Path | str, *, readonly: bool = False, shared: bool = False) -> None:
        """Open (creating it, unless ``readonly``) the spool at ``path``.

        A read-only connection (status figures, post-mortems) cannot take the write lock and
        touches neither the file's mode nor its schema. ``shared``: used from several threads,
        one at a time (the caller holds a lock).
        """
        self.path = Path(path)
        self._pid = os.getpid()
        self._token = uuid.uuid4().hex
        self._writers = process_lock(self.path)
        if readonly:
            resolved = self.path.resolve()
            spool_file.check_regular(resolved)
            uri = f"file:{resolved}?mode=ro"
            self._db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=10.0, check_same_thread=not shared
            )
            self._claim(readonly=True)
            return
        spool_file.prepare(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self._claim(readonly=False)
        spool_file.tighten(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Durable across process crashes (the failure we see); FULL would add power-loss
        # durability at 5-15x the cost per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self._transaction():  # one process adds them; the others see them there
            for name, kind in _ADDED_COLUMNS:
                if name not in self._columns():
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")
            self._db.execute(_ADDED_INDEXES)

    def _columns(self) -> set[str]:
        return spool_status.columns(self._db)

    def _claim(self, *, readonly: bool) -> None:
        try:
            spool_file.claim(self._db, self.path, readonly=readonly)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def insert(self, rows: Iterable[tuple[str, str, str]], destination: str | None = None) -> int:
        """Commit ``(idempotency_key, target, body)`` rows bound for ``destination``."""
        return self.insert_bound((key, target, body, destination) for key, target, body in rows)

    def insert_bound(self, rows: Iterable[tuple[str, str, str, str | None]]) -> int:
        """Commit ``(idempotency_key, target, body, destination)`` rows in one transaction.

        A key already spooled is kept as it is (the same write, handed over twice).
        Returns how many rows were new.
        """
        now, boot_now, boot = time.time(), spool_clock.boot_now(), spool_clock.boot_id()
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (idempotency_key, target, body, destination, "
                "created_at, created_boot, boot) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((*row, now, boot_now, boot) for row in rows),
            )
            return self._db.total_changes - before

    def lease(
        self,
        limit: int,
        lease_s: float,
        *,
        targets: Collection[str] | None = None,
        older_than_s: float = 0.0,
        token: str | None = None,
        destination: str | None = None,
    ) -> list[SpoolRow]:
        """Take up to ``limit`` deliverable rows, oldest first, for ``lease_s`` seconds: rows of
        ``targets`` only when given, only rows spooled at least ``older_than_s`` ago, and, given
        a ``destination``, only rows bound for it (or for none: spooled before rows were bound).

        Many relays share a spool (one per session; sessions in several processes), so the
        write lock is the scarce thing: candidates are found with a plain read first (WAL
        readers take no lock), and the write lock is taken only when some row is free, then
        the choice is checked again under it.
        """
        token = token or self._token
        if targets is not None and not targets:
            return []
        choice = partial(
            self._free_seqs,
            limit,
            lease_s=lease_s,
            targets=targets,
            older_than_s=older_than_s,
            token=token,
            destination=destination,
        )
        if not choice(time.time()):
            return []
        with self._transaction():
            now = time.time()
            seqs = choice(now)
            self._db.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_token = ?, lease_until = ? WHERE seq = ?",
                ((self._pid, token, now + lease_s, seq) for seq in seqs),
            )
        rows: list[SpoolRow] = []
        for start in range(0, len(seqs), 500):  # SQLite caps bound parameters per statement
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))  # only placeholders go into the SQL text
            query = f"SELECT seq, idempotency_key, target, body, attempts FROM outbox WHERE seq IN ({marks}) ORDER BY seq"  # noqa: E501, S608
            rows += [SpoolRow(*row) for row in self._db.execute(query, chunk)]
        return rows

    def _free_seqs(
        self,
        limit: int,
        now: float,
        *,
        lease_s: float,
        targets: Collection[str] | None,
        older_than_s: float,
        token: str,
        destination: str | None,
    ) -> list[int]:
        """Deliverable rows nobody alive holds: unleased, expired, ours, or a dead process's.

        A time further ahead than any this spool sets was set by a wall clock since stepped
        back: due now, never stranded (see :mod:`spool_clock`)."""
        query = (
            "SELECT seq, lease_owner, lease_token, lease_until FROM outbox "
            "WHERE dead = 0 AND (not_before <= ? OR not_before > ?)"
        )
        parameters: list[object] = [now, now + spool_clock.MAX_HOLD_S]
        if older_than_s > 0:
            query += " AND (created_at <= ? OR created_at > ?)"
            parameters += [now - older_than_s, now + spool_clock.STEP_TOLERANCE_S]
        if targets is not None:
            query += f" AND target IN ({','.join('?' * len(targets))})"
            parameters += sorted(targets)
        condition, bound = spool_status.delivered_by(destination)
        query += condition
        parameters += bound
        candidates = self._db.execute(
            query + " ORDER BY seq LIMIT ?", [*parameters, limit * 4]
        ).fetchall()
        alive: dict[int, bool] = {}
        free: list[int] = []
        for seq, owner, lease_token, until in candidates:
            expired = until <= now or until > now + lease_s + spool_clock.STEP_TOLERANCE_S
            if expired or owner is None or lease_token == token:
                free.append(seq)
            elif owner != self._pid:
                if owner not in alive:
                    alive[owner] = process_alive(owner)
                if not alive[owner]:
                    free.append(seq)
            if len(free) == limit:
                break
        return free

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget delivered rows."""
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in seqs))

    def release(self, seqs: Sequence[int], *, error: str, retry_in_s: float) -> None:
        """Give rows back after a failed attempt; they are retried after ``retry_in_s``."""
        not_before = time.time() + retry_in_s
        with self._transaction():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, not_before = ?, "
                "lease_owner = NULL, lease_token = NULL, lease_until = 0 WHERE seq = ?",
                ((error, not_before, s) for s in seqs),
            )

    def bury(self, seqs: Sequence[int], *, error: str) -> None:
        """Mark rows the backend refused for good: kept for inspection, never sent again."""
        with self._transaction():
            self._db.executemany(
                "UPDATE outbox SET dead = 1, attempts = attempts + 1, last_error = ?, "
                "lease_owner = NULL, lease_token = NULL, lease_until = 0 WHERE seq = ?",
                ((error, s) for s in seqs),
            )

    def requeue(
        self,
        *,
        status: int | None = None,
        conversation_id: ConversationId | None = None,
        session_id: SessionId | None = None,
    ) -> int:
        """Make dead rows pending again (their cause is fixed): those the backend refused with
        ``status``, of one conversation's events, of one session's writes, or all of them.
        Returns how many."""
        query = "UPDATE outbox SET dead = 0, not_before = 0 WHERE dead = 1"
        parameters: list[object] = []
        if status is not None:
            query += " AND last_error = ?"  # a dead row's last_error is the refusal's status
            parameters.append(str(status))
        if conversation_id is not None:
            query += " AND target = ?"
            parameters.append(SpoolTarget.events(conversation_id).encode())
        if session_id is not None:
            query += " AND (idempotency_key LIKE ? ESCAPE '\\' OR idempotency_key = ?)"
            parameters += session_key_pattern(session_id)
        with self._transaction():
            return self._db.execute(query, parameters).rowcount

    def rebind(self, source: str, destination: str) -> int:
        """Bind the rows bound for backend ``source`` for ``destination`` (an operator's move)."""
        with self._transaction():
            query = "UPDATE outbox SET destination = ? WHERE destination = ?"
            return self._db.execute(query, (destination, source)).rowcount

    def unlease(self, token: str | None = None) -> None:
        """Give back every lease held under ``token`` (this connection's by default): its
        relay is stopping."""
        with self._transaction():
            self._db.execute(
                "UPDATE outbox SET lease_owner = NULL, lease_token = NULL, lease_until = 0 "
                "WHERE lease_token = ?",
                (token or self._token,),
            )

    def count_pending(self, session_id: SessionId) -> int:
        """Undelivered writes of one session (its events and its summary)."""
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM outbox WHERE dead = 0 AND "
            "(idempotency_key LIKE ? ESCAPE '\\' OR idempotency_key = ?)",
            session_key_pattern(session_id),
        ).fetchone()
        return int(count)

    def pending(self, destination: str | None = None) -> int:
        """Rows not yet delivered (nor dead) that a relay of ``destination`` delivers (its own
        and unbound ones; ``None``: every row): the figure alone, from an index."""
        return spool_status.count_pending(self._db, destination)

    def status(self, destination: str | None = None) -> SpoolStatus:
        """Pending and dead counts, and the oldest pending row's true age, of the rows a relay
        of ``destination`` delivers (``None``: of every row); see :mod:`spool_status`."""
        return spool_status.read_status(self._db, destination)

    def status_by_destination(self) -> dict[str | None, SpoolStatus]:
        """The figures of each backend's rows apart, and of the unbound rows (key ``None``)."""
        return spool_status.status_by_destination(self._db)

    def _transaction(self) -> Transaction:
        return Transaction(self._db, self._writers)


def read_once(path: Path, read: Callable[[Spool], T]) -> T:
    """``read`` on a read-only connection of its own, closed after."""
    spool = Spool(path, readonly=True)
    try:
        return read(spool)
    finally:
        spool.close()


def read_status(path: Path) -> SpoolStatus:
    """Pending, dead and oldest age of the existing spool at ``path`` (read-only)."""
    return read_once(path, Spool.status)
