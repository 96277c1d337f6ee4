"""Where a spooled write goes, and what its idempotency key says: one encode and one parse each.

A spool row's ``target`` names the backend resource its write is delivered to: the event batch
of a conversation (``events:<conversation_id>``) or the summary of a session
(``session:<session_id>``). A session's events are keyed ``<session_id>:<seq>`` and its summary
by its target's text, so the writes of one session can be found by key alone
(:func:`session_key_pattern`, used to requeue or count them).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from voicefsm.ids import ConversationId, SessionId


class TargetKind(StrEnum):
    EVENTS = "events"  # POST /conversations/{id}/events, in batches
    SESSION = "session"  # PUT /sessions/{id}, one summary each


class SpoolTarget(NamedTuple):
    """The backend resource a spooled write is delivered to (a tuple: made for every write on
    the voice path, it must cost next to nothing)."""

    kind: TargetKind
    ident: str

    @classmethod
    def events(cls, conversation_id: ConversationId) -> SpoolTarget:
        return cls(TargetKind.EVENTS, conversation_id)

    @classmethod
    def summary(cls, session_id: SessionId) -> SpoolTarget:
        return cls(TargetKind.SESSION, session_id)

    def encode(self) -> str:
        """The text stored in the spool's ``target`` column."""
        return f"{self.kind}:{self.ident}"

    @classmethod
    def parse(cls, text: str) -> SpoolTarget:
        """The target a spool row names; ``ValueError`` for a kind this version does not know."""
        kind, _, ident = text.partition(":")
        try:
            return cls(TargetKind(kind), ident)
        except ValueError:
            msg = f"unknown spool target kind {kind!r}"
            raise ValueError(msg) from None


def event_key(session_id: SessionId, seq: int) -> str:
    """The idempotency key of a session's ``seq``-th event."""
    return f"{session_id}:{seq:06d}"


def summary_key(session_id: SessionId) -> str:
    """The idempotency key of a session's summary (one per session, whatever retries)."""
    return SpoolTarget.summary(session_id).encode()


def session_key_pattern(session_id: SessionId) -> tuple[str, str]:
    """The keys of one session's writes, for SQL: a ``LIKE`` pattern (escaped with ``\\``) for
    its events, and its summary's key."""
    escaped = session_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}:%", summary_key(session_id)


def session_of(key: str) -> SessionId:
    """The session an idempotency key belongs to."""
    summary = SpoolTarget.parse(key) if key.startswith(f"{TargetKind.SESSION.value}:") else None
    if summary is not None:
        return SessionId(summary.ident)
    return SessionId(key.rpartition(":")[0])
