"""``voicefsm outbox status`` and ``drain``, run as a user would, settings from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from trials.support import Backend, event, free_port
from voicefsm.backend.server.runner import running_backend
from voicefsm.cli import main
from voicefsm.ids import ConversationId
from voicefsm.persistence.relay import RelayPolicy
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget


def fill(spool_path: Path, count: int) -> None:
    spool = Spool(spool_path)
    spool.insert(
        (e.idempotency_key, SpoolTarget.events(ConversationId("c1")).encode(), e.model_dump_json())
        for e in map(event, range(count))
    )
    spool.close()


def test_status_reports_pending_and_age(
    spool_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(spool_path, 7)
    assert main(["outbox", "status", "--spool", str(spool_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["pending"], status["dead"]) == (7, 0)
    assert status["oldest_age_s"] >= 0


def test_status_reads_the_spool_path_from_the_environment(
    spool_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(spool_path, 2)
    monkeypatch.setenv("VOICEFSM_SPOOL_PATH", str(spool_path))
    assert main(["outbox", "status"]) == 0
    assert capsys.readouterr().out.startswith(f"{spool_path}: 2 pending (oldest ")


def test_status_of_a_missing_spool_is_an_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.sqlite3"
    assert main(["outbox", "status", "--spool", str(missing)]) == 2
    assert "no spool at" in capsys.readouterr().err
    assert not missing.exists()


def test_drain_delivers_everything_and_exits_zero(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(spool_path, 40)
    assert main(["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]) == 0
    assert "delivered 40; 0 pending, 0 dead" in capsys.readouterr().out
    assert len(backend.stored_keys()) == 40


def test_drain_delivers_rows_spooled_a_moment_ago_at_once(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session's relay leaves rows this fresh to their own session for a few seconds
    (``RelayPolicy.stray_after_s``); a drain must not wait for them."""
    fill(spool_path, 40)
    timeout = str(RelayPolicy().stray_after_s / 2)
    argv = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]
    assert main([*argv, "--timeout", timeout]) == 0
    assert "delivered 40; 0 pending, 0 dead" in capsys.readouterr().out
    assert len(backend.stored_keys()) == 40


def test_drain_against_a_dead_backend_exits_one_and_keeps_everything(
    spool_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(spool_path, 5)
    monkeypatch.setenv("VOICEFSM_BACKEND_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["outbox", "drain", "--spool", str(spool_path), "--timeout", "0.5"]) == 1
    assert "delivered 0; 5 pending" in capsys.readouterr().out


def test_drain_without_a_backend_names_the_variable(
    spool_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(spool_path, 1)
    monkeypatch.delenv("VOICEFSM_BACKEND_URL", raising=False)
    assert main(["outbox", "drain", "--spool", str(spool_path)]) == 2
    assert "VOICEFSM_BACKEND_URL" in capsys.readouterr().err


def test_drain_uses_the_backend_token_from_the_environment(
    spool_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(spool_path, 3)
    with running_backend(f"sqlite:///{tmp_path / 'b.db'}", token=SecretStr("tok-123")) as url:
        monkeypatch.setenv("VOICEFSM_BACKEND_TOKEN", "wrong")
        assert (
            main(
                [
                    "outbox",
                    "drain",
                    "--spool",
                    str(spool_path),
                    "--backend-url",
                    url,
                    "--timeout",
                    "1",
                ]
            )
            == 1
        )
        monkeypatch.setenv("VOICEFSM_BACKEND_TOKEN", "tok-123")
        assert main(["outbox", "drain", "--spool", str(spool_path), "--backend-url", url]) == 0
