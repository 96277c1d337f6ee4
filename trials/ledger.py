"""What the backend applied, read straight from its database, and the Jepsen-style accounting
of it against what the writers acknowledged."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import TextClause, bindparam, text

from trials.summary import GroupResult
from voicefsm.backend.server.db import build_engine
from voicefsm.ids import SessionId
from voicefsm.persistence.targets import summary_key


@dataclass(frozen=True)
class Message:
    key: str
    session_id: str
    role: str
    text: str


@dataclass
class Applied:
    """The backend's rows for some conversations: every event key with how many rows carry it,
    the session summaries, and the messages in the order the backend returns them."""

    event_keys: Counter[str] = field(default_factory=Counter)
    summaries: set[str] = field(default_factory=set)
    messages: list[Message] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        """Every applied write, named the way the outbox keys it."""
        return set(self.event_keys) | {summary_key(SessionId(s)) for s in self.summaries}


def _matching(query: str) -> TextClause:
    return text(query).bindparams(
        bindparam("conversations", expanding=True), bindparam("sessions", expanding=True)
    )


async def _read(database_url: str, conversations: list[str], sessions: list[str]) -> Applied:
    engine = build_engine(database_url)
    applied = Applied()
    # An expanding IN of an empty list is valid SQL in SQLAlchemy (it matches nothing).
    ids = {"conversations": conversations, "sessions": sessions}
    try:
        async with engine.connect() as connection:
            events = await connection.execute(
                _matching(
                    "SELECT idempotency_key, session_id, kind, role, text FROM events "
                    "WHERE conversation_id IN :conversations OR session_id IN :sessions "
                    "ORDER BY at, id"
                ),
                ids,
            )
            for key, session_id, kind, role, body in events:
                applied.event_keys[key] += 1
                if kind == "message":
                    applied.messages.append(Message(key, session_id, role, body))
            summaries = await connection.execute(
                _matching(
                    "SELECT session_id FROM sessions "
                    "WHERE conversation_id IN :conversations OR session_id IN :sessions"
                ),
                ids,
            )
            applied.summaries = {row[0] for row in summaries}
    finally:
        await engine.dispose()
    return applied


def read_applied(
    database_url: str, conversations: Iterable[str] = (), sessions: Iterable[str] = ()
) -> Applied:
    """The backend's rows for ``conversations`` or ``sessions`` (SQLite or PostgreSQL URL)."""
    return asyncio.run(_read(database_url, sorted(set(conversations)), sorted(set(sessions))))


def account(
    result: GroupResult,
    *,
    acknowledged: set[str],
    applied: Applied,
    known: set[str] | None = None,
    where: str = "",
) -> None:
    """Add one trial's figures to ``result``.

    ``acknowledged``: writes the writer saw committed. ``known``: every write the writers could
    have produced (acknowledged, or found in the spool); an applied write outside it is invented.
    A key carried by more than one row, or a user message stored twice under different keys, is
    a duplicate.
    """
    applied_keys = applied.keys
    known = acknowledged if known is None else known | acknowledged
    lost = acknowledged - applied_keys
    invented = applied_keys - known
    repeated = [key for key, count in applied.event_keys.items() if count > 1]
    said = Counter((m.session_id, m.text) for m in applied.messages if m.role == "user")
    retold = [pair for pair, count in said.items() if count > 1]
    result.acknowledged += len(acknowledged)
    result.delivered += len(acknowledged & applied_keys)
    result.lost += len(lost)
    result.invented += len(invented)
    result.duplicated += len(repeated) + len(retold)
    prefix = f"{where}: " if where else ""
    result.check(not lost, f"{prefix}acknowledged but never applied: {sorted(lost)[:5]}")
    result.check(not invented, f"{prefix}applied but never written: {sorted(invented)[:5]}")
    result.check(not repeated, f"{prefix}applied more than once: {repeated[:5]}")
    result.check(not retold, f"{prefix}a user message stored twice: {retold[:3]}")
