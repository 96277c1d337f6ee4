"""Two backends sharing one spool, one of them down: what a drain, a session's closing flush
and ``outbox status`` count. A relay delivers only its own backend's rows (and unbound ones),
so its pending figures are over those rows too; the down backend's rows are not its to wait
for, and ``outbox status`` says per backend what is pending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event, free_port
from voicefsm.backend.client import backend_destination
from voicefsm.cli import main
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget


def spool_for(spool_path: Path, destination: str | None, session: str, count: int) -> None:
    """``count`` events of ``session`` spooled for the backend at ``destination``."""
    target = SpoolTarget.events(ConversationId(f"c-{session}")).encode()
    spool = Spool(spool_path)
    try:
        spool.insert(
            (
                (e.idempotency_key, target, e.model_dump_json())
                for e in (event(i, session=session) for i in range(count))
            ),
            destination=None if destination is None else backend_destination(destination),
        )
    finally:
        spool.close()


def down_backend() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_drain_for_the_healthy_backend_succeeds_with_another_one_down(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    down = down_backend()
    spool_for(spool_path, down, "b", 12)
    spool_for(spool_path, backend.url, "a", 7)
    argv = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]
    assert main([*argv, "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "delivered 7; 0 pending, 0 dead" in out
    assert "12 pending for other backends" in out
    assert len(backend.stored_keys()) == 7
    # The down backend's drain still fails: its rows are there, undelivered.
    assert main(["outbox", "drain", "--spool", str(spool_path), "--backend-url", down]) == 1
    assert "delivered 0; 12 pending, 0 dead" in capsys.readouterr().out


def test_unbound_rows_are_every_backends_to_deliver_and_to_wait_for(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    down = down_backend()
    spool_for(spool_path, None, "old", 3)  # spooled before rows were bound
    spool_for(spool_path, down, "b", 5)
    argv = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]
    assert main(argv) == 0
    assert "delivered 3; 0 pending, 0 dead" in capsys.readouterr().out
    spool = Spool(spool_path)
    try:
        assert spool.status(backend_destination(down)).pending == 5
        assert spool.status(backend_destination(backend.url)).pending == 0
        assert spool.status().pending == 5
    finally:
        spool.close()


async def test_a_sessions_closing_flush_waits_only_for_its_own_backends_rows(
    spool_path: Path, backend: Backend
) -> None:
    """Before, the flush counted the down backend's rows too: it waited its whole deadline and
    returned them as its own undelivered writes."""
    spool_for(spool_path, down_backend(), "b", 12)
    async with outbox_to(backend.url, spool_path) as outbox:
        for i in range(5):
            outbox.submit_event("c-a", event(i, session="a"))
        assert await outbox.flush(60.0) == 0
        stats = await outbox.stats()
        assert (stats.delivered, stats.pending) == (5, 0)
        assert outbox.undelivered() == 0
    assert len(backend.stored_keys()) == 5


def test_status_shows_what_is_pending_per_backend(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    down = down_backend()
    spool_for(spool_path, down, "b", 4)
    spool_for(spool_path, backend.url, "a", 2)
    spool_for(spool_path, None, "old", 1)
    assert main(["outbox", "status", "--spool", str(spool_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 7
    per_backend = {
        row["destination"]: (row["pending"], row["dead"]) for row in status["destinations"]
    }
    assert per_backend == {
        backend_destination(down): (4, 0),
        backend_destination(backend.url): (2, 0),
        None: (1, 0),
    }
    assert main(["outbox", "status", "--spool", str(spool_path)]) == 0
    text = capsys.readouterr().out
    assert f"  {backend_destination(down)}: 4 pending" in text
    assert f"  {backend_destination(backend.url)}: 2 pending" in text
    assert "  unbound (any backend): 1 pending" in text
