"""A spool path is only ever a spool: never a directory, never followed through a symlink to
change a mode, never another program's SQLite database."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from voicefsm.errors import OutboxError
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.spool_file import SPOOL_APPLICATION_ID
from voicefsm.persistence.targets import SpoolTarget


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_directory_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    with pytest.raises(OutboxError, match="is a directory"):
        Spool(home)
    assert _mode(home) == 0o755


def test_a_symlink_is_refused_and_its_target_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    target.chmod(0o644)
    link = tmp_path / "spool.sqlite3"
    link.symlink_to(target)
    with pytest.raises(OutboxError, match="symbolic link"):
        Spool(link)
    assert _mode(target) == 0o644
    assert target.read_text() == "mine"


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    """The reference backend's own database, say: no outbox table added, no switch to WAL."""
    database = tmp_path / "backend.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT)")
    database.chmod(0o640)
    before = database.read_bytes()
    for readonly in (False, True):
        with pytest.raises(OutboxError, match="not a voicefsm spool"):
            Spool(database, readonly=readonly)
    assert database.read_bytes() == before
    assert _mode(database) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backend.sqlite3"]


def test_a_new_spool_is_marked_and_an_unmarked_one_adopted(tmp_path: Path) -> None:
    fresh = tmp_path / "spool" / "outbox.sqlite3"
    Spool(fresh).close()
    older = tmp_path / "older.sqlite3"  # written by a voicefsm that did not mark its spools
    spool = Spool(older)
    spool.insert([("k", SpoolTarget.events(ConversationId("c1")).encode(), "{}")])
    spool.close()
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA application_id = 0")
    Spool(older).close()
    for path in (fresh, older):
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA application_id").fetchone() == (SPOOL_APPLICATION_ID,)
    assert Spool(older, readonly=True).status().pending == 1


def test_a_wider_directory_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="voicefsm.outbox"):
        Spool(shared / "a.sqlite3").close()
        Spool(shared / "a.sqlite3").close()
    warned = [r for r in caplog.records if "directory" in r.getMessage()]
    assert len(warned) == 1
    assert _mode(shared) == 0o755  # not ours to tighten: said, not done
    assert _mode(shared / "a.sqlite3") == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_file_we_do_not_own_is_not_chmodded(tmp_path: Path) -> None:
    spool_path = tmp_path / "outbox.sqlite3"
    Spool(spool_path).close()
    spool_path.chmod(0o644)
    os.chown(spool_path, 65534, 65534)
    Spool(spool_path).close()
    assert _mode(spool_path) == 0o644
