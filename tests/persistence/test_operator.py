"""The operator is told the real cause, once: a full disk is not "busy", a refused token is not
"OpenedState"; a bad spool or a bad argument is one line and exit status 2, never a traceback."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.persistence.test_commands import fill
from tests.persistence.test_outbox import outbox_to
from trials.support import event
from voicefsm.backend.server.runner import running_backend
from voicefsm.cli import main
from voicefsm.persistence.spool import Spool


def disk_full() -> sqlite3.OperationalError:
    """The very error SQLite raises when the disk is full (a page limit standing in for it)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x)")
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError) as raised:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    db.close()
    assert raised.value.sqlite_errorname == "SQLITE_FULL"
    return raised.value


async def test_a_full_disk_while_relaying_is_named_once(
    spool_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    full = disk_full()

    def lease(self: Spool, *args: object, **kwargs: object) -> list[object]:
        raise full

    async with outbox_to("http://127.0.0.1:9", spool_path) as outbox:
        monkeypatch.setattr(Spool, "lease", lease)
        with caplog.at_level(logging.WARNING, logger="voicefsm.outbox"):
            outbox.submit_event("c1", event(1))
            assert await outbox.flush(1.0) == 1  # several rounds, each failing the same way
        monkeypatch.undo()
    told = [r for r in caplog.records if r.name == "voicefsm.outbox"]
    assert len(told) == 1
    assert "disk is full" in told[0].getMessage()
    assert told[0].error.startswith("SQLITE_FULL")  # type: ignore[attr-defined]


async def test_a_refused_token_is_named_and_stored_as_such(
    spool_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_backend(f"sqlite:///{tmp_path / 'b.db'}", token=SecretStr("right")) as url:
        async with outbox_to(url, spool_path, token=SecretStr("wrong")) as outbox:
            with caplog.at_level(logging.WARNING, logger="voicefsm.outbox"):
                for i in range(3):
                    outbox.submit_event("c1", event(i))
                assert await outbox.flush(1.5) == 3
    told = [r for r in caplog.records if getattr(r, "status", None) == 401]
    assert len(told) == 1
    assert "VOICEFSM_BACKEND_TOKEN" in told[0].getMessage()
    with sqlite3.connect(spool_path) as db:
        errors = {error for (error,) in db.execute("SELECT last_error FROM outbox")}
    assert errors == {"backend refused the token (401)"}


def _bad_spools(tmp_path: Path) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(os.urandom(8192))
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    directory = tmp_path / "directory.sqlite3"
    directory.mkdir()
    return {"corrupt": corrupt, "empty": empty, "directory": directory}


@pytest.mark.parametrize("kind", ["corrupt", "empty", "directory"])
@pytest.mark.parametrize("action", ["status", "drain", "requeue"])
def test_a_bad_spool_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, action: str
) -> None:
    spool = _bad_spools(tmp_path)[kind]
    before = spool.read_bytes() if spool.is_file() else None
    argv = ["outbox", action, "--spool", str(spool)]
    if action == "drain":
        argv += ["--backend-url", "http://127.0.0.1:9", "--timeout", "1"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"voicefsm outbox {action}: ")
    assert str(spool) in err
    assert "Traceback" not in err
    if before is not None:
        assert spool.read_bytes() == before  # looked at, never changed


@pytest.mark.parametrize(
    "extra",
    [
        ["--backend-url", "127.0.0.1:8787"],
        ["--backend-url", "ftp://127.0.0.1:8787"],
        ["--timeout", "nan"],
        ["--timeout", "-5"],
        ["--timeout", "0"],
        ["--timeout", "inf"],
    ],
)
def test_drain_arguments_are_validated(
    spool_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    fill(spool_path, 1)
    argv = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, *extra])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("voicefsm outbox drain: error: argument")
