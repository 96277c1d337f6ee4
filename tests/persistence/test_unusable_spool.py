"""A spool that cannot be opened never fails the call: a corrupt one is moved aside (never
overwritten) and a fresh one opened; anything else degrades the outbox to direct delivery from
memory, loudly, and a healthy backend still gets the whole conversation."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from tests.persistence.test_operator import disk_full
from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.ids import ConversationId
from voicefsm.lifecycle import State
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget
from voicefsm.providers.scripted import ScriptedLLM


def make_unusable(kind: str, path: Path) -> bytes | None:
    """Put an unusable spool of ``kind`` at ``path``; returns the bytes a file held."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if kind == "random bytes":
        path.write_bytes(os.urandom(16384))
    elif kind == "truncated":
        spool = Spool(path)
        spool.insert(
            (f"k{i}", SpoolTarget.events(ConversationId("c0")).encode(), "x" * 2000)
            for i in range(200)
        )
        spool.close()
        with path.open("r+b") as file:
            file.truncate(8192)
    elif kind == "directory":
        path.mkdir()
        return None
    elif kind == "another program's database":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    return path.read_bytes()


CORRUPT = ["random bytes", "truncated"]
REFUSED = ["directory", "another program's database"]


@pytest.mark.parametrize("kind", CORRUPT + REFUSED)
async def test_the_conversation_reaches_the_backend_whatever_the_spool(
    backend: Backend, spool_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    original = make_unusable(kind, spool_path)
    with caplog.at_level(logging.ERROR, logger="voicefsm.outbox"):
        async with outbox_to(backend.url, spool_path) as outbox:  # today: OutboxError here
            for i in range(5):
                outbox.submit_event("c1", event(i))
            assert await outbox.flush(10) == 0
            stats = await outbox.stats()
    assert backend.stored_keys() == [event(i).idempotency_key for i in range(5)]
    told = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(told) == 1
    if kind in CORRUPT:
        assert (stats.spooled, stats.unspooled) == (5, 0)  # a fresh spool took them
        aside = [p for p in spool_path.parent.iterdir() if ".corrupt-" in p.name]
        assert [p.read_bytes() for p in aside if not p.name.endswith(("-wal", "-shm"))] == [
            original
        ]
        assert told[0].moved_to == str(aside[0])  # type: ignore[attr-defined]
    else:
        assert (stats.spooled, stats.unspooled) == (0, 5)  # delivered from memory
        if original is not None:
            assert spool_path.read_bytes() == original
        assert "directly" in told[0].getMessage()


async def test_a_corrupt_file_moved_aside_never_overwrites_an_earlier_one(
    backend: Backend, spool_path: Path
) -> None:
    for _ in range(2):
        make_unusable("random bytes", spool_path)
        async with outbox_to(backend.url, spool_path) as outbox:
            outbox.submit_event("c1", event(1))
            assert await outbox.flush(10) == 0
        for leftover in ("", "-wal", "-shm"):
            Path(f"{spool_path}{leftover}").unlink(missing_ok=True)
    assert len([p for p in spool_path.parent.iterdir() if ".corrupt-" in p.name]) == 2


async def test_a_call_on_an_unusable_spool_still_runs_and_exits(
    tmp_path: Path, backend: Backend
) -> None:
    spool_path = tmp_path / "spool" / "outbox.sqlite3"
    make_unusable("directory", spool_path)
    settings = load_settings(spool_path=spool_path, backend_url=backend.url, flush_deadline_s=5.0)
    providers = Providers(llm=ScriptedLLM(ttft_s=0.01), turn_detection="manual")
    async with open_session(
        VoiceAgent(instructions="test agent"),
        providers=providers,
        settings=settings,
        session_id="unusable-1",
    ) as session:
        await session.settled()
        await session.agent_session.run(user_input="Hello there")
        session.end()
        async with asyncio.timeout(settings.shutdown_budget_s):
            await session.finished.wait()
    assert session.lifecycle.state is State.EXITING
    assert any(key.startswith("unusable-1:") for key in backend.stored_keys())


async def test_a_full_disk_at_start_degrades_to_direct_delivery(
    backend: Backend, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = disk_full()

    def cannot_open(self: Spool, *args: object, **kwargs: object) -> None:
        raise full

    monkeypatch.setattr(Spool, "__init__", cannot_open)
    async with outbox_to(backend.url, spool_path) as outbox:
        for i in range(3):
            outbox.submit_event("c1", event(i))
        assert await outbox.flush(10) == 0
        stats = await outbox.stats()
    assert (stats.spooled, stats.unspooled, stats.delivered) == (0, 3, 3)
    assert backend.stored_keys() == [event(i).idempotency_key for i in range(3)]
