"""Telling the operator why the spool fails: the real cause (SQLite's own name for it: a full
disk is ``SQLITE_FULL``, not "busy"), logged once when it changes rather than once per attempt
(a full disk during a drain once logged 230 lines in 5 s)."""

from __future__ import annotations

import logging
import threading

#: SQLite's primary result codes, as an operator would say them.
_MEANINGS = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "a disk I/O error",
    "SQLITE_READONLY": "the spool is read-only",
    "SQLITE_CANTOPEN": "the spool cannot be opened",
    "SQLITE_PERM": "permission denied",
    "SQLITE_CORRUPT": "the spool is corrupt",
    "SQLITE_NOTADB": "the spool is not a database",
    "SQLITE_BUSY": "the spool is busy (locked by other writers)",
    "SQLITE_LOCKED": "the spool is busy (locked by other writers)",
}


def error_name(exc: BaseException) -> str:
    """SQLite's primary error name (``SQLITE_IOERR_WRITE`` is ``SQLITE_IOERR``), or the
    exception's type for anything else (an ``OSError``)."""
    name = getattr(exc, "sqlite_errorname", None)
    if not isinstance(name, str):
        return type(exc).__name__
    parts = name.split("_")
    return "_".join(parts[:2])


def meaning(exc: BaseException) -> str:
    """What the failure means, from a fixed table (safe in a log message)."""
    return _MEANINGS.get(error_name(exc), "an unexpected error")


def describe_failure(exc: BaseException) -> str:
    """SQLite's name for a spool failure (``SQLITE_FULL``) and its message; never row data."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return f"{name}: {str(exc)[:200]}"


def is_busy(exc: BaseException) -> bool:
    return error_name(exc) in {"SQLITE_BUSY", "SQLITE_LOCKED"}


def is_corrupt(exc: BaseException) -> bool:
    """The file is not a readable database: moved aside, a fresh spool opened in its place."""
    return error_name(exc) in {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


class Told:
    """Remembers the cause last told, so that each cause is logged once, when it changes.

    Thread-safe: the spool writer thread and the event loop may both report."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._current: str | None = None

    def failing(self, key: str, message: str, *, level: int, **extra: object) -> bool:
        """Log ``message`` unless ``key`` is already the cause told; True when logged."""
        with self._lock:
            if key == self._current:
                return False
            self._current = key
        self._log.log(level, message, extra=extra)
        return True

    def recovered(self, message: str, **extra: object) -> None:
        """Say the failure is over, if one was told."""
        with self._lock:
            if self._current is None:
                return
            self._current = None
        self._log.info(message, extra=extra)
