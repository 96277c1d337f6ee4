"""A spool shared by processes delivering to different backends (issue 25, item 2): every row
is bound for the backend it was written for, and a relay, a drain or a starting worker delivers
only its own backend's rows. An older spool gains the binding without losing a row."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event, free_port
from voicefsm.backend.client import backend_destination
from voicefsm.backend.server.runner import running_backend
from voicefsm.cli.simulating import _settings as simulate_settings
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget
from voicefsm.settings import load_settings

#: A process that spools ``count`` events of session ``name`` for ``url`` (down or up) and
#: exits without delivering them (its flush deadline is 0).
_SPOOLER = """
import asyncio, sys
from tests.persistence.test_outbox import outbox_to
from trials.support import event

async def main(url, spool, name, count):
    async with outbox_to(url, spool) as outbox:
        for i in range(count):
            outbox.submit_event(f"c-{name}", event(i, session=name))
        await outbox.flush(0)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def _spool_in_a_process(url: str, spool: Path, name: str, count: int) -> None:
    subprocess.run(
        [sys.executable, "-c", _SPOOLER, url, str(spool), name, str(count)],
        check=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )


@pytest.fixture
def second_backend(tmp_path: Path) -> Iterator[Backend]:
    database = tmp_path / "second.sqlite3"
    with running_backend(f"sqlite:///{database}") as url:
        yield Backend(url, database)


async def test_two_processes_two_backends_one_spool_each_backend_gets_only_its_rows(
    spool_path: Path, backend: Backend, second_backend: Backend
) -> None:
    """Process B spools for its backend while that backend is down; process A's relay, whose
    own writes share the spool, delivers only A's, and B's wait for B's backend."""
    down = f"http://127.0.0.1:{free_port()}"
    await asyncio.to_thread(_spool_in_a_process, down, spool_path, "b", 12)
    await asyncio.to_thread(_spool_in_a_process, backend.url, spool_path, "a", 7)
    # A relay to A's backend sweeping the spool, well past the stray age, takes none of B's
    # (nor waits for them: they are not its to deliver).
    async with outbox_to(backend.url, spool_path, drain_all=True) as a_again:
        assert await a_again.flush(10.0) == 0
    assert sorted(backend.stored_keys()) == [
        event(i, session="a").idempotency_key for i in range(7)
    ]
    # B's rows reach B's backend (up now at another port: moved there by the operator).
    async with outbox_to(second_backend.url, spool_path, drain_all=True) as b_relay:
        assert await b_relay.flush(10.0) == 0  # not bound for it: left alone
    assert second_backend.stored_keys() == []
    spool = Spool(spool_path)
    try:
        assert spool.status(backend_destination(down)).pending == 12
        moved = spool.rebind(backend_destination(down), backend_destination(second_backend.url))
    finally:
        spool.close()
    assert moved == 12
    async with outbox_to(second_backend.url, spool_path, drain_all=True) as b_relay:
        assert await b_relay.flush(10.0) == 0
    assert sorted(second_backend.stored_keys()) == [
        event(i, session="b").idempotency_key for i in range(12)
    ]
    assert sorted(backend.stored_keys()) == [
        event(i, session="a").idempotency_key for i in range(7)
    ]


async def test_two_outboxes_of_one_process_deliver_to_their_own_backends(
    spool_path: Path, backend: Backend, second_backend: Backend
) -> None:
    """Sessions of one process (one spool thread) writing for two backends at once."""
    async with (
        outbox_to(backend.url, spool_path) as first,
        outbox_to(second_backend.url, spool_path) as second,
    ):
        for i in range(10):
            first.submit_event("c-one", event(i, session="one"))
            second.submit_event("c-two", event(i, session="two"))
        assert await first.flush(10.0) == 0
        assert await second.flush(10.0) == 0
    assert sorted(backend.stored_keys()) == [
        event(i, session="one").idempotency_key for i in range(10)
    ]
    assert sorted(second_backend.stored_keys()) == [
        event(i, session="two").idempotency_key for i in range(10)
    ]


_OLD_SCHEMA = """
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    lease_owner INTEGER, lease_token TEXT, lease_until REAL NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_boot REAL, boot INTEGER
);
CREATE INDEX outbox_ready ON outbox (dead, seq);
"""


async def test_a_spool_from_before_destinations_keeps_every_row_and_delivers_them(
    spool_path: Path, backend: Backend
) -> None:
    spool_path.parent.mkdir(mode=0o700)
    with sqlite3.connect(spool_path) as db:
        db.executescript(_OLD_SCHEMA)
        target = SpoolTarget.events(ConversationId("c-old")).encode()
        db.executemany(
            "INSERT INTO outbox (idempotency_key, target, body, created_at) VALUES (?, ?, ?, 0)",
            [
                (
                    event(i, session="old").idempotency_key,
                    target,
                    event(i, session="old").model_dump_json(),
                )
                for i in range(9)
            ],
        )
    spool_path.chmod(0o600)
    async with outbox_to(backend.url, spool_path, drain_all=True) as outbox:
        assert await outbox.flush(10.0) == 0
    assert sorted(backend.stored_keys()) == [
        event(i, session="old").idempotency_key for i in range(9)
    ]


def test_a_destination_names_the_backend_not_its_credentials() -> None:
    assert backend_destination("HTTP://User:secret@Example.COM:80/api/v1/?x=1#top") == (
        "http://example.com/api/v1"
    )
    assert backend_destination("https://example.com:8443/") == "https://example.com:8443"
    assert backend_destination("http://127.0.0.1:8080") != backend_destination(
        "http://127.0.0.1:8081"
    )


def test_simulate_never_shares_the_workers_spool_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VOICEFSM_SPOOL_PATH", raising=False)
    monkeypatch.delenv("VOICEFSM_DATA_DIR", raising=False)
    worker = load_settings().spool_path
    simulate = simulate_settings(argparse.Namespace(data_dir=None, backend_url=None)).spool_path
    assert simulate != worker
    assert simulate == worker.parent / "simulate" / "outbox.sqlite3"
    # A spool the user names is theirs to share.
    monkeypatch.setenv("VOICEFSM_SPOOL_PATH", str(worker))
    assert simulate_settings(argparse.Namespace(data_dir=None, backend_url=None)).spool_path == (
        worker
    )
