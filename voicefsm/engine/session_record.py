"""What one session has recorded, in memory: history, participants, counters, and the keys of
its writes.

Everything here is an O(1) append or counter update with no I/O: it sits on the voice path.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import JsonValue

from voicefsm.agent.hooks import HistoryItem
from voicefsm.backend.flow_state import FlowSummary
from voicefsm.backend.models import (
    Message,
    MessageEvent,
    MessageSummary,
    ParticipantSummary,
    SessionSummary,
    TimelineRecord,
    storable_text,
)
from voicefsm.context import ParticipantMetadata
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle.effects import Utterance
from voicefsm.lifecycle.states import EndReason, Role
from voicefsm.lifecycle.timeline import Timeline
from voicefsm.lifecycle.triggers import ToolCall
from voicefsm.persistence.targets import event_key

#: What a participant is, as the summary records it (livekit's ``ParticipantKind``; ingress,
#: egress and kinds livekit adds later are "other").
ParticipantKind = Literal["standard", "sip", "agent", "other"]


@dataclass(slots=True)
class ParticipantState:
    """One participant of the room: parsed, capped, current (metadata and attributes follow
    their changes; ``left_at`` is cleared when they come back)."""

    identity: str
    metadata: ParticipantMetadata
    joined_at: datetime
    left_at: datetime | None = None
    kind: ParticipantKind = "standard"
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SessionCounters:
    """What went into the outbox or wrong, by kind; ``voicefsm simulate`` reports them."""

    writes: int = 0
    writes_refused: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    app_events: int = 0
    #: Hook runs by outcome ("ok", "failed", "timeout", "stalled").
    hooks: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        return {
            "writes": self.writes,
            "writes_refused": self.writes_refused,
            "errors": dict(sorted(self.errors.items())),
            "app_events": self.app_events,
            "hooks": dict(sorted(self.hooks.items())),
        }


class MessageWrite:
    """A history item's message event, built when the outbox's writer thread serialises it
    (it calls this object): the voice path only hands it over. A plain slotted class, as cheap
    to make as the hand-off itself.

    Built without re-validation: every field comes from our own typed history item
    (validation would cost more than the rest of the event). The text is made storable
    (capped, no NUL) so the backend cannot refuse it.
    """

    __slots__ = ("item", "session_id")

    def __init__(self, session_id: SessionId, item: HistoryItem) -> None:
        self.session_id = session_id
        self.item = item

    def __call__(self) -> MessageEvent:
        item = self.item
        return MessageEvent.model_construct(
            idempotency_key=item.id,
            session_id=self.session_id,
            at=item.at,
            kind="message",
            role=item.role,
            text=storable_text(item.text),
            turn=item.turn,
            interrupted=item.interrupted,
        )


#: Participants a summary names (the contract's own limit).
MAX_PARTICIPANTS = 64


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class SessionRecord:
    """The in-memory record of one session.

    ``prior`` holds the messages of earlier sessions of the same conversation (loaded on resume);
    ``history`` holds this session's own, in the order they were said.
    """

    def __init__(
        self,
        session_id: SessionId,
        conversation_id: ConversationId,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_id = session_id
        self.conversation_id = conversation_id
        self._clock = clock
        self.started_at = _utc(clock())
        self.history: list[HistoryItem] = []
        self.prior: list[HistoryItem] = []
        self.participants: dict[str, ParticipantState] = {}
        #: Every tool call that finished, in the order it did.
        self.tool_calls: list[ToolCall] = []
        self.counters = SessionCounters()
        #: The call's shared state as JSON, read when the summary is written.
        self.shared_state: Callable[[], JsonValue] = _no_state
        self._seq = 0

    def next_key(self) -> str:
        """A deterministic idempotency key for this session's next write."""
        self._seq += 1
        return event_key(self.session_id, self._seq)

    def now(self) -> datetime:
        return _utc(self._clock())

    def append(self, utterance: Utterance) -> HistoryItem:
        """Append what was said; O(1), no I/O."""
        item = HistoryItem(
            id=self.next_key(),
            role=Role(utterance.role),
            text=utterance.text,
            turn=utterance.turn,
            interrupted=utterance.interrupted,
            at=self.now(),
        )
        self.history.append(item)
        return item

    def message_event(self, item: HistoryItem) -> MessageEvent:
        """The backend event for a history item, keyed by the item's id."""
        return MessageWrite(self.session_id, item)()

    def preload(self, messages: Iterable[Message]) -> None:
        """Earlier messages of this conversation, oldest first, as the backend returned them."""
        self.prior.extend(
            HistoryItem(m.id, m.role, m.text, m.turn, m.interrupted, m.at) for m in messages
        )

    def participant_joined(
        self,
        identity: str,
        metadata: ParticipantMetadata,
        *,
        kind: ParticipantKind = "standard",
        attributes: dict[str, str] | None = None,
    ) -> bool:
        """Someone is in the room; True when it is one who had left (their join time stays)."""
        known = self.participants.get(identity)
        if known is not None:
            came_back = known.left_at is not None
            known.left_at, known.metadata, known.kind = None, metadata, kind
            known.attributes = dict(attributes or {})
            return came_back
        if len(self.participants) >= MAX_PARTICIPANTS:
            return False  # a room flooded with joins: the summary keeps the first ones
        self.participants[identity] = ParticipantState(
            identity, metadata, self.now(), kind=kind, attributes=dict(attributes or {})
        )
        return False

    def participant_changed(
        self,
        identity: str,
        *,
        metadata: ParticipantMetadata | None = None,
        attributes: dict[str, str] | None = None,
    ) -> ParticipantState | None:
        """A participant's metadata or attributes changed; their state now, if they are known."""
        participant = self.participants.get(identity)
        if participant is not None:
            if metadata is not None:
                participant.metadata = metadata
            if attributes is not None:
                participant.attributes = dict(attributes)
        return participant

    def participant_left(self, identity: str) -> None:
        participant = self.participants.get(identity)
        if participant is not None and participant.left_at is None:
            participant.left_at = self.now()

    def summary(
        self,
        end_reason: EndReason,
        timeline: Timeline | None = None,
        flows: Iterable[FlowSummary] = (),
    ) -> SessionSummary:
        """The final record of the session for ``PUT /api/v1/sessions/{session_id}``; ``flows``:
        where the call's flows ended, with their node changes."""
        ended_at = self.now()
        return SessionSummary(
            session_id=self.session_id,
            conversation_id=self.conversation_id,
            started_at=self.started_at,
            ended_at=ended_at,
            duration_s=max(0.0, (ended_at - self.started_at).total_seconds()),
            end_reason=end_reason,
            participants=[
                ParticipantSummary(
                    identity=storable_text(p.identity)[:256],
                    kind=p.kind,
                    user_id=p.metadata.user_id,
                    display_name=p.metadata.display_name,
                    joined_at=p.joined_at,
                    left_at=p.left_at,
                )
                for p in self.participants.values()
            ],
            messages=[
                MessageSummary(
                    role=m.role, text=storable_text(m.text), turn=m.turn, interrupted=m.interrupted
                )
                for m in self.history
            ],
            timeline=[TimelineRecord.model_validate(entry.as_json()) for entry in timeline or ()],
            flows=list(flows),
            userdata=self.shared_state(),
        )


def _no_state() -> JsonValue:
    return None
