"""Helpers the tests, the trials and the benchmarks share: the real backend and ways to look
inside it, free ports, PostgreSQL databases made and dropped, and one session's account of its
writes (acknowledged against delivered) for the session trials."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from voicefsm.backend.models import MessageEvent, Role


@dataclass(frozen=True)
class Backend:
    url: str
    database: Path

    def stored_keys(self) -> list[str]:
        """Every idempotency key the backend applied (the table enforces one row per key)."""
        with sqlite3.connect(self.database) as db:
            return [key for (key,) in db.execute("SELECT idempotency_key FROM events ORDER BY id")]

    def events(self, kind: str) -> list[dict[str, object]]:
        """The payloads of every stored event of ``kind``, in the order they were applied."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute("SELECT payload FROM events WHERE kind = ? ORDER BY id", (kind,))
            return [json.loads(payload) for (payload,) in rows]

    def session_summary(self, session_id: str) -> dict[str, object] | None:
        with sqlite3.connect(self.database) as db:
            row = db.execute(
                "SELECT summary FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return None if row is None else json.loads(row[0])  # type: ignore[no-any-return]

    def stored_text(self, key: str) -> str | None:
        with sqlite3.connect(self.database) as db:
            row = db.execute("SELECT text FROM events WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else row[0]


def event(index: int, session: str = "s1", text: str | None = None) -> MessageEvent:
    return MessageEvent(
        idempotency_key=f"{session}:{index:06d}",
        session_id=session,
        at=datetime(2026, 11, 1, tzinfo=UTC),
        role=Role.USER,
        text=text if text is not None else f"message {index}",
        turn=index,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: A PostgreSQL server the tests may create databases on (``.ci/postgres`` prints one).
POSTGRES_URL = os.environ.get("VOICEFSM_TEST_POSTGRES_URL")


async def postgres_admin(url: str, sql: str) -> None:
    """Run one admin statement (CREATE/DROP DATABASE) on the server at ``url``."""
    import asyncpg  # noqa: PLC0415 (only needed when PostgreSQL runs)

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database or "postgres",
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh, empty database on ``server_url`` for one test; dropped afterwards."""
    name = f"voicefsm_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(postgres_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class SessionAccount:
    """One trial session's writes: the keys its spool acknowledged (:meth:`committed` is the
    outbox's commit listener, on its writer thread), the keys the backend holds for it, in
    order, and what its checks found wrong."""

    acknowledged: set[str] = field(default_factory=set)
    delivered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def committed(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.acknowledged.update(keys)

    def counted(self) -> dict[str, int]:
        """Its writes as a trial group counts them: acknowledged, delivered of those, lost,
        invented (delivered, never acknowledged) and duplicated."""
        delivered = set(self.delivered)
        return {
            "acknowledged": len(self.acknowledged),
            "delivered": len(delivered & self.acknowledged),
            "lost": len(self.acknowledged - delivered),
            "invented": len(delivered - self.acknowledged),
            "duplicated": len(self.delivered) - len(delivered),
        }


def stored_tool_outcomes(database: Path, session_id: str) -> list[str | None]:
    """The outcome of each tool call the backend stored for ``session_id``, in order."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT json_extract(payload, '$.outcome') FROM events"
            " WHERE session_id = ? AND kind = 'tool_call' ORDER BY id",
            (session_id,),
        )
        return [outcome for (outcome,) in rows]
