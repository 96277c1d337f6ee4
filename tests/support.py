"""Helpers shared by the test folders: the real backend and ways to look inside it."""

from __future__ import annotations

import socket
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voicefsm.backend.models import MessageEvent, Role


@dataclass(frozen=True)
class Backend:
    url: str
    database: Path

    def stored_keys(self) -> list[str]:
        """Every idempotency key the backend applied (the table enforces one row per key)."""
        with sqlite3.connect(self.database) as db:
            return [key for (key,) in db.execute("SELECT idempotency_key FROM events ORDER BY id")]

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
