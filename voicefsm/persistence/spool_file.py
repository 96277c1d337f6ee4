"""The spool file on disk: a path that is only ever a spool.

The spool holds transcripts (PII) at rest, so it is created 0600 in a 0700 directory. Opening it
must never change anything else: a path naming a directory (``$HOME``) or a symbolic link is
refused before any mode changes, and a SQLite database that is not a voicefsm spool (the
reference backend's own, say) is refused before a table or a journal mode is added to it.
Spools are marked with SQLite's ``application_id``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

from voicefsm.errors import OutboxError

_LOG = logging.getLogger("voicefsm.outbox")

#: ``PRAGMA application_id`` of every voicefsm spool ("VFSP").
SPOOL_APPLICATION_ID = 0x56465350
#: What an unmarked spool (written before spools were marked) may hold, and nothing else.
_SPOOL_OBJECTS = frozenset(
    {"outbox", "outbox_ready", "outbox_bound", "sqlite_autoindex_outbox_1", "sqlite_sequence"}
)

_WARNED_DIRECTORIES: set[Path] = set()
_WARNED_GUARD = threading.Lock()


def prepare(path: Path) -> None:
    """Make ``path`` ready to be opened as a spool: its directory exists (created 0700; said
    once when an existing one is wider), and the file is new (created 0600) or an existing
    regular file. Raises :class:`OutboxError` for anything else; changes no existing mode."""
    _private_directory(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        # Never open and close an existing spool outside SQLite: POSIX advisory locks belong
        # to the process, and closing *any* descriptor of the file drops every lock its SQLite
        # connections hold (sqlite.org/howtocorrupt.html §2.2).
        check_regular(path)
    else:
        os.close(fd)  # brand new: nobody holds a lock on it yet


def tighten(path: Path) -> None:
    """Make an existing spool (checked to be one) 0600 when it is ours; say so when not."""
    info = path.lstat()
    check_regular(path, info)
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    if info.st_uid == os.geteuid():
        os.chmod(path, 0o600)  # a regular file of ours, checked just above
        return
    _LOG.warning(
        "outbox spool readable by others and not ours to tighten",
        extra={"spool": str(path), "mode": oct(mode)},
    )


def check_regular(path: Path, info: os.stat_result | None = None) -> None:
    """Refuse a path that is a symbolic link, a directory or anything but a regular file."""
    info = info or path.lstat()
    if stat.S_ISLNK(info.st_mode):
        msg = f"the outbox spool path {path} is a symbolic link; refusing to follow it"
        raise OutboxError(msg)
    if stat.S_ISDIR(info.st_mode):
        msg = f"the outbox spool path {path} is a directory, not a spool file"
        raise OutboxError(msg)
    if not stat.S_ISREG(info.st_mode):
        msg = f"the outbox spool path {path} is not a regular file"
        raise OutboxError(msg)


def claim(db: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
    """Check the database is a voicefsm spool before anything is written to it: marked, or
    unmarked and holding nothing but a spool's tables (then marked, unless ``readonly``)."""
    (application_id,) = db.execute("PRAGMA application_id").fetchone()
    if application_id == SPOOL_APPLICATION_ID:
        return
    objects = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    if readonly and not objects:
        msg = f"{path} holds no spool (an empty database)"
        raise OutboxError(msg)
    if application_id != 0 or not objects <= _SPOOL_OBJECTS:
        msg = (
            f"{path} is a SQLite database that is not a voicefsm spool; refusing to use it "
            "(set VOICEFSM_SPOOL_PATH to a file of its own)"
        )
        raise OutboxError(msg)
    if not readonly:
        db.execute(f"PRAGMA application_id = {SPOOL_APPLICATION_ID}")


def _private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(directory.stat().st_mode)
    if not mode & 0o077:
        return
    key = directory.resolve()
    with _WARNED_GUARD:
        if key in _WARNED_DIRECTORIES:
            return
        _WARNED_DIRECTORIES.add(key)
    _LOG.warning(
        "outbox spool directory is open to other users; the spool itself stays 0600",
        extra={"directory": str(directory), "mode": oct(mode)},
    )


_JOURNALS = ("", "-wal", "-shm")


def move_aside(path: Path) -> Path:
    """Rename a corrupt spool, with its journal files, to ``<name>.corrupt-<UTC time>`` (``-1``,
    ``-2``… when taken) for inspection, never over an existing file; returns the new path. The
    journal goes too: a fresh spool must never pick up the old one's write-ahead log."""
    check_regular(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    attempt = 0
    while True:
        target = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{attempt}" if attempt else ""))
        attempt += 1
        if any(os.path.lexists(f"{target}{suffix}") for suffix in _JOURNALS):
            continue
        try:
            os.link(path, target)  # unlike rename, never replaces a file created meanwhile
        except FileExistsError:
            continue
        break
    os.unlink(path)
    for suffix in _JOURNALS[1:]:
        journal = Path(f"{path}{suffix}")
        if journal.exists():
            os.replace(journal, f"{target}{suffix}")  # checked free above, with the main file
    return target
