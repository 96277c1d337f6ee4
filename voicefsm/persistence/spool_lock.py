"""Taking a spool's write lock: one transaction at a time per process, ``BEGIN IMMEDIATE``;
and whether a lease's holder is still alive."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK``): take the write lock up front so two
    processes never both read rows to lease before either writes."""

    __slots__ = ("_db", "_writers")

    def __init__(self, db: sqlite3.Connection, writers: threading.Lock) -> None:
        self._db = db
        self._writers = writers

    def __enter__(self) -> None:
        self._writers.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._writers.release()
            raise

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is not None:
                # SQLite may have ended the transaction itself (an I/O error, a full disk): a
                # ROLLBACK then fails and would hide the error that matters.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                return
            try:
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT leaves the transaction open, holding the write lock every
                # other connection (in every process) waits on: end it; the caller retries.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        finally:
            self._writers.release()


_PROCESS_LOCKS: dict[Path, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def process_lock(path: Path) -> threading.Lock:
    """One lock per spool file per process, taken around every write transaction.

    SQLite's busy handler polls with sleeps: dozens of connections in one process (a writer and
    a relay per session) polling for the write lock starve one another past the busy timeout.
    Queued on this lock, a process's connections take turns and only one of them at a time
    contends with other processes.
    """
    key = path.resolve()
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.Lock())


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` (a lease's owner) is alive: a dead one's leases are free."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
