"""The wall clock stepping back or forward (NTP, a VM resumed, an operator) never strands a spooled
row, and the spool's figures still show how old its rows really are."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event
from voicefsm.cli import main
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool, read_status
from voicefsm.persistence.targets import SpoolTarget

HOUR = 3600.0


def spool_then_step_clock(spool_path: Path, count: int, step_s: float) -> None:
    """Spool ``count`` rows, one of them failed, leased and retried later; then step the wall
    clock by ``step_s`` (shifting every timestamp by ``-step_s`` is the same, seen from now)."""
    spool = Spool(spool_path)
    spool.insert(
        (e.idempotency_key, SpoolTarget.events(ConversationId("c1")).encode(), e.model_dump_json())
        for e in map(event, range(count))
    )
    spool.release([1], error="backend answered 503", retry_in_s=0.5)
    spool.lease(1, lease_s=120.0, token="a-relay-that-stopped")  # noqa: S106 (a lease token)
    spool.close()
    with sqlite3.connect(spool_path) as db:
        db.execute(
            "UPDATE outbox SET created_at = created_at - ?, not_before = not_before - ?, "
            "lease_until = CASE WHEN lease_until > 0 THEN lease_until - ? ELSE 0 END",
            (step_s, step_s, step_s),
        )


@pytest.mark.parametrize("step_s", [-HOUR, HOUR])
def test_a_drain_after_a_clock_step_delivers_everything(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str], step_s: float
) -> None:
    spool_then_step_clock(spool_path, 21, step_s)
    argv = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]
    assert main([*argv, "--timeout", "10"]) == 0
    assert "delivered 21; 0 pending, 0 dead" in capsys.readouterr().out
    assert len(backend.stored_keys()) == 21


async def test_a_session_relay_takes_stray_rows_stamped_by_a_clock_since_set_back(
    spool_path: Path, backend: Backend
) -> None:
    spool_then_step_clock(spool_path, 5, -HOUR)  # another session's rows, a crashed process
    async with outbox_to(backend.url, spool_path) as outbox:
        outbox.claim("c-other")  # a session of another conversation: the rows are strays
        assert await outbox.flush(10) == 0
    assert len(backend.stored_keys()) == 5


@pytest.mark.parametrize("step_s", [-HOUR, HOUR])
def test_status_shows_the_true_age_across_a_clock_step(spool_path: Path, step_s: float) -> None:
    spool_then_step_clock(spool_path, 3, step_s)
    time.sleep(0.2)
    age = read_status(spool_path).oldest_age_s
    assert age is not None
    assert 0.2 <= age < 60
