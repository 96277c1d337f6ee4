"""The ids that travel between the engine, the outbox and the backend, typed so that a session's
id is never handed over where a conversation's is meant (both are text on the wire)."""

from __future__ import annotations

from typing import NewType

#: A conversation: every session of one caller's (or one room's) talk, across calls.
ConversationId = NewType("ConversationId", str)
#: One session: one call, one job, one lifecycle.
SessionId = NewType("SessionId", str)
