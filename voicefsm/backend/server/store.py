"""What the reference backend does with its database: idempotent, portable upserts and reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voicefsm.backend.flow_state import FlowStateEvent
from voicefsm.backend.models import (
    Event,
    Message,
    MessageEvent,
    SessionSummary,
    payload_digest,
)
from voicefsm.backend.server.db import (
    CallerLeaseRow,
    ConversationRow,
    EventRow,
    FlowStateRow,
    SessionRow,
)
from voicefsm.context import MAX_METADATA_BYTES
from voicefsm.lifecycle.states import Role

CONTEXT_SNIPPETS = 3
_WORD = re.compile(r"\w{4,}")


class KeyConflict(Exception):  # noqa: N818 (a domain outcome, mapped to 422)
    """An idempotency key was reused with a different payload (or conversation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"{len(keys)} idempotency key(s) reused with a different payload")
        self.keys = list(keys)


class MetadataTooLarge(Exception):  # noqa: N818
    """The room metadata would exceed what the worker accepts."""


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    conversation_id: str
    metadata: str
    created: bool


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # SQLite has one writer at a time, and a deferred transaction that reads before it
        # writes fails at once ("database is locked") when another holds the lock: a hundred
        # concurrent sessions got 500s. Writers take turns here instead; PostgreSQL needs none.
        self._write_turn: asyncio.Lock | None = asyncio.Lock() if dialect == "sqlite" else None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction (one at a time on SQLite)."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                await stack.enter_async_context(self._write_turn)
            yield await stack.enter_async_context(self._sessions.begin())

    def insert_ignoring(self, table: type[Any], *, on: str) -> Any:  # noqa: ANN401 (dialect stmt)
        return self._insert(table).on_conflict_do_nothing(index_elements=[on])

    async def _ensure_conversation(self, db: AsyncSession, conversation_id: str) -> None:
        stmt = self.insert_ignoring(ConversationRow, on="id")
        await db.execute(stmt.values(id=conversation_id, created_at=_now()))

    async def create_room(self, name: str, agent: dict[str, Any]) -> Room:
        """The conversation for room ``name``: created once, returned as-is afterwards."""
        conversation_id = f"c_{uuid.uuid4().hex}"
        metadata = json.dumps(
            {"conversation_id": conversation_id, "agent": agent},
            sort_keys=True,
            separators=(",", ":"),
        )
        if len(metadata.encode()) > MAX_METADATA_BYTES:
            raise MetadataTooLarge
        async with self.writing() as db:
            stmt = self.insert_ignoring(ConversationRow, on="room_name").values(
                id=conversation_id, room_name=name, room_metadata=metadata, created_at=_now()
            )
            await db.execute(stmt)
            row = (
                await db.execute(select(ConversationRow).where(ConversationRow.room_name == name))
            ).scalar_one()
        return Room(name, row.id, row.room_metadata or metadata, row.id == conversation_id)

    async def append_events(self, conversation_id: str, events: Sequence[Event]) -> tuple[int, int]:
        """Apply each event once: returns (accepted, duplicates); all or nothing."""
        wanted: dict[str, str] = {}
        rows = []
        for item in events:
            payload = item.model_dump(mode="json")
            digest = payload_digest(payload)
            key = item.idempotency_key
            if key in wanted:  # repeated within the batch: fine only if identical
                if wanted[key] != digest:
                    raise KeyConflict([key])
                continue
            wanted[key] = digest
            rows.append(_event_row(conversation_id, item, payload, digest))
        async with self.writing() as db:
            await self._ensure_conversation(db, conversation_id)
            stmt = self.insert_ignoring(EventRow, on="idempotency_key")
            result = await db.execute(stmt.returning(EventRow.idempotency_key), rows)
            inserted = set(result.scalars())
            # Only keys that already existed need a look: same payload and conversation, or 422.
            others = [key for key in wanted if key not in inserted]
            if others:
                stored = await self._stored(db, others)
                conflicts = [k for k in others if stored.get(k) != (wanted[k], conversation_id)]
                if conflicts:
                    raise KeyConflict(conflicts)  # rolls the whole batch back
            moves = [e for e in events if isinstance(e, FlowStateEvent)]
            for move in moves:
                if move.idempotency_key in inserted:  # a replay changes nothing
                    await self._keep_flow_state(db, conversation_id, move)
        return len(inserted), len(events) - len(inserted)

    async def _keep_flow_state(
        self, db: AsyncSession, conversation_id: str, move: FlowStateEvent
    ) -> None:
        """Keep ``move``'s state as the flow's latest unless a later one is already kept (a
        higher step, or the same step written later): events of a crashed call may arrive
        after those of the call that resumed it."""
        values = {"step": move.step, "at": move.at, "state": dict(move.state), "updated_at": _now()}
        stmt = self._insert(FlowStateRow).values(
            conversation_id=conversation_id, flow=move.flow, **values
        )
        later = or_(
            FlowStateRow.step < move.step,
            and_(FlowStateRow.step == move.step, FlowStateRow.at <= move.at),
        )
        await db.execute(
            stmt.on_conflict_do_update(
                index_elements=[FlowStateRow.conversation_id, FlowStateRow.flow],
                set_=values,
                where=later,
            )
        )

    async def flow_states(self, conversation_id: str) -> list[dict[str, object]]:
        """The latest state of each flow of the conversation, by flow name."""
        query = (
            select(FlowStateRow.state)
            .where(FlowStateRow.conversation_id == conversation_id)
            .order_by(FlowStateRow.flow)
        )
        async with self._sessions() as db:
            return list((await db.execute(query)).scalars().all())

    async def _stored(self, db: AsyncSession, keys: list[str]) -> dict[str, tuple[str, str]]:
        query = select(
            EventRow.idempotency_key, EventRow.payload_hash, EventRow.conversation_id
        ).where(EventRow.idempotency_key.in_(keys))
        return {key: (digest, conv) for key, digest, conv in (await db.execute(query)).all()}

    async def recent_messages(self, conversation_id: str, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        query = (
            select(EventRow)
            .where(EventRow.conversation_id == conversation_id, EventRow.kind == "message")
            .order_by(EventRow.at.desc(), EventRow.id.desc())
            .limit(limit)
        )
        async with self._sessions() as db:
            rows = (await db.execute(query)).scalars().all()
        return [_message(row) for row in reversed(rows)]

    async def context_for(self, conversation_id: str, text: str) -> list[str]:
        """Earlier messages of the conversation sharing a word with ``text``, newest first.

        A deliberately simple enrichment; a real backend would search its own knowledge here.
        """
        words = sorted({word.lower() for word in _WORD.findall(text)})[:8]
        if not words:
            return []
        query = (
            select(EventRow.text)
            .where(
                EventRow.conversation_id == conversation_id,
                EventRow.kind == "message",
                or_(*(EventRow.text.icontains(word, autoescape=True) for word in words)),
            )
            .order_by(EventRow.at.desc(), EventRow.id.desc())
            .limit(CONTEXT_SNIPPETS)
        )
        async with self._sessions() as db:
            return [text[:300] for text in (await db.execute(query)).scalars() if text]

    async def put_session(self, summary: SessionSummary) -> bool:
        """Store (or replace) a session's summary; True when it is new."""
        data = summary.model_dump(mode="json", by_alias=True)
        async with self.writing() as db:
            await self._ensure_conversation(db, summary.conversation_id)
            # The session is over: a returning caller's conversation it held is free again.
            await db.execute(
                delete(CallerLeaseRow).where(CallerLeaseRow.session_id == summary.session_id)
            )
            row = await db.get(SessionRow, summary.session_id)
            if row is None:
                db.add(
                    SessionRow(
                        session_id=summary.session_id,
                        conversation_id=summary.conversation_id,
                        summary=data,
                        updated_at=_now(),
                    )
                )
                return True
            row.summary, row.conversation_id, row.updated_at = data, summary.conversation_id, _now()
            return False

    async def events_after(self, conversation_id: str, after: int, limit: int) -> list[EventRow]:
        """The conversation's events applied after ``after`` (a row id), at most ``limit``, in
        the order they were applied (none for a conversation it does not know)."""
        query = (
            select(EventRow)
            .where(EventRow.conversation_id == conversation_id, EventRow.id > after)
            .order_by(EventRow.id)
            .limit(limit)
        )
        async with self._sessions() as db:
            return list((await db.execute(query)).scalars().all())

    async def sessions_of(self, conversation_id: str) -> tuple[str | None, list[dict[str, object]]]:
        """The conversation's room metadata (if a room was made for it) and its session
        summaries, oldest first (none for a conversation it does not know)."""
        query = select(SessionRow.summary).where(SessionRow.conversation_id == conversation_id)
        async with self._sessions() as db:
            conversation = await db.get(ConversationRow, conversation_id)
            summaries = list((await db.execute(query)).scalars().all())
        metadata = conversation.room_metadata if conversation is not None else None
        return metadata, sorted(summaries, key=lambda summary: str(summary["started_at"]))

    async def session(self, session_id: str) -> dict[str, object] | None:
        async with self._sessions() as db:
            row = await db.get(SessionRow, session_id)
            return None if row is None else row.summary


def _event_row(
    conversation_id: str, item: Event, payload: dict[str, Any], digest: str
) -> dict[str, object]:
    message = item if isinstance(item, MessageEvent) else None
    return {
        "idempotency_key": item.idempotency_key,
        "payload_hash": digest,
        "conversation_id": conversation_id,
        "session_id": item.session_id,
        "kind": item.kind,
        "at": item.at,
        "payload": payload,
        "role": message.role.value if message else None,
        "text": item.text if hasattr(item, "text") else None,
        "received_at": _now(),
    }


def _message(row: EventRow) -> Message:
    payload = row.payload
    return Message(
        id=row.idempotency_key,
        session_id=row.session_id,
        role=Role(row.role or "user"),
        text=row.text or "",
        turn=int(payload.get("turn", 0)),  # type: ignore[call-overload]
        interrupted=bool(payload.get("interrupted", False)),
        at=row.at,
    )
