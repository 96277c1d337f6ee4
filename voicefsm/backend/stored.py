"""The contract's read side for whole calls (v1): a conversation's stored events, page by
page, and its sessions. ``voicefsm scenario export`` reads a call back through these.

Like every response they ignore fields they do not know; an event's ``payload`` is the event
as it was written (one of :data:`voicefsm.backend.models.Event`), kept as JSON so that a client
reads the kinds it knows and passes over kinds a newer writer added.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, JsonValue

#: The most events one page holds.
MAX_EVENTS_PAGE = 500


class _Stored(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StoredEvent(_Stored):
    """One applied event: its place in the conversation (``seq``, increasing in the order the
    backend applied them), its kind and the event itself."""

    seq: int
    kind: str
    payload: dict[str, JsonValue]


class EventsPage(_Stored):
    conversation_id: str
    events: list[StoredEvent]
    #: Pass as ``after`` for the next page; ``None`` once this page is the last.
    next_after: int | None = None


class SessionOverview(_Stored):
    """A session of the conversation, from its summary: when, how it ended, who was there."""

    session_id: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    end_reason: str
    participants: list[dict[str, JsonValue]] = []


class ConversationSessions(_Stored):
    conversation_id: str
    #: The room metadata stored for the conversation's room (``POST /rooms``), if any.
    room_metadata: str | None = None
    #: Oldest first.
    sessions: list[SessionOverview]
