"""A disk that fails under a live call: the writer gives a failed commit up within its budget,
closing the outbox is bounded, and with a healthy backend the writes still reach it, directly
from memory (in order, same keys), counted as never acknowledged."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.persistence.test_operator import disk_full
from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event
from voicefsm.persistence.spool import Spool


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> sqlite3.OperationalError:
    """From now on every spool insert fails as on a full disk."""
    full = disk_full()

    def insert(self: Spool, rows: Iterable[tuple[str, str, str, str | None]]) -> int:
        raise full

    monkeypatch.setattr(Spool, "insert_bound", insert)
    return full


async def test_a_disk_filling_mid_call_loses_nothing_with_a_healthy_backend(
    backend: Backend,
    spool_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with asyncio.timeout(20):  # today: the writer retries forever and close never returns
        async with outbox_to(backend.url, spool_path) as outbox:
            outbox.submit_event("c1", event(0))
            assert await outbox.flush(5) == 0  # spooled and delivered while there was room
            fill_the_disk(monkeypatch)
            with caplog.at_level(logging.ERROR, logger="voicefsm.outbox"):
                for i in range(1, 17):
                    outbox.submit_event("c1", event(i))
                assert await outbox.flush(10) == 0
            stats = await outbox.stats()
    assert (stats.submitted, stats.spooled, stats.unspooled) == (17, 1, 16)
    assert stats.delivered == 17
    assert backend.stored_keys() == [event(i).idempotency_key for i in range(17)]  # in order
    full = [r for r in caplog.records if "disk is full" in r.getMessage()]
    assert len(full) == 1  # told once, with its real name
    assert full[0].error.startswith("SQLITE_FULL")  # type: ignore[attr-defined]


async def test_closing_on_a_failing_disk_is_bounded_without_a_backend(
    spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nowhere to deliver: the writes are lost (never acknowledged), counted, and the close
    (the job's exit on SIGTERM) is not held up."""
    async with asyncio.timeout(20):
        async with outbox_to(None, spool_path) as outbox:
            fill_the_disk(monkeypatch)
            for i in range(16):
                outbox.submit_event("c1", event(i))
            assert await outbox.flush(10) == 0  # nothing left to wait for: they are lost
            stats = await outbox.stats()
    assert (stats.spooled, stats.unspooled, stats.delivered, stats.lost) == (0, 16, 0, 16)
