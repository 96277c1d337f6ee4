"""Everything a session writes: its history (in memory) and the backend events (through the
outbox), built here and nowhere else.

Every write is a non-blocking hand-off. A write the outbox cannot take (the spool is full, or
the outbox already closed) is counted and logged, never raised into the voice path. The agent's
own events may come from any thread (a sync hook runs in one): they hop onto the session's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import JsonValue

from voicefsm.agent.hooks import HistoryItem
from voicefsm.backend.fields import EventData
from voicefsm.backend.flow_state import FlowStateEvent, FlowSummary, state_problem
from voicefsm.backend.models import (
    MAX_TOOL_TEXT,
    ErrorEvent,
    Event,
    HandoffEvent,
    SessionSummary,
    SpeechEvent,
    ToolCallEvent,
    TranscriptionEvent,
    storable_text,
    validated_app_event,
)
from voicefsm.engine.session_record import MessageWrite, SessionRecord
from voicefsm.errors import OutboxError, SpoolFullError
from voicefsm.flows import NodeChange
from voicefsm.ids import ConversationId
from voicefsm.lifecycle import EndReason, Timeline, ToolCall, ToolOutcome, Utterance
from voicefsm.logs import Log


class EventOutbox(Protocol):
    """The voice path's hand-off: where the writes go (implemented by
    :class:`voicefsm.persistence.outbox.Outbox`). Each call returns at once; one that cannot
    take the write raises an ``OutboxError``."""

    def submit_event(self, conversation_id: ConversationId, event: Event) -> None: ...

    def submit_built(
        self, conversation_id: ConversationId, key: str, build: Callable[[], Event]
    ) -> None: ...

    def submit_session(self, summary: SessionSummary) -> None: ...


class SessionWrites:
    """Writes for one session: what was said, heard, created and what went wrong. Made on the
    session's event loop."""

    def __init__(self, record: SessionRecord, outbox: EventOutbox, log: Log) -> None:
        self.record = record
        self._outbox = outbox
        self._conversation_id = record.conversation_id
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        #: Where the call's flows are, for the summary (set by the call's flow watch).
        self.flow_summaries: Callable[[], list[FlowSummary]] = list

    def utterance(self, utterance: Utterance) -> HistoryItem:
        """History plus its message event, keyed by the history item's id."""
        item = self.record.append(utterance)
        message = MessageWrite(self.record.session_id, item)  # built on the writer thread
        try:
            self._outbox.submit_built(self._conversation_id, item.id, message)
        except OutboxError as exc:
            self._refused("message", exc)
        else:
            self.record.counters.writes += 1
        return item

    def transcription(self, text: str, language: str | None) -> None:
        self.submit(
            TranscriptionEvent(
                idempotency_key=self.record.next_key(),
                session_id=self.record.session_id,
                at=self.record.now(),
                text=storable_text(text),
                final=True,
                language=language[:256] if language else None,
            )
        )

    def speech(self, speech_id: str, source: str, *, user_initiated: bool) -> None:
        self.submit(
            SpeechEvent(
                idempotency_key=self.record.next_key(),
                session_id=self.record.session_id,
                at=self.record.now(),
                speech_id=speech_id[:256],
                source=source[:256],
                user_initiated=user_initiated,
            )
        )

    def error(self, source: str, error_type: str, *, recoverable: bool) -> None:
        """An error event; ``source`` and ``error_type`` are names, never messages (secrets)."""
        self.record.counters.errors[source[:256]] += 1
        self.submit(
            ErrorEvent(
                idempotency_key=self.record.next_key(),
                session_id=self.record.session_id,
                at=self.record.now(),
                source=source[:256],
                error_type=error_type[:256],
                recoverable=recoverable,
            )
        )

    def app_event(self, name: str, data: EventData) -> None:
        """The agent's own event. Raises ``ValueError`` (the message says why) for a name or
        data the contract refuses: the caller's mistake, reported to the caller."""
        event = validated_app_event(
            name,
            data,
            key=self.record.next_key(),
            session_id=self.record.session_id,
            at=self.record.now(),
        )
        self.record.counters.app_events += 1
        self.submit(event)

    def app_event_from_any_thread(self, name: str, data: EventData) -> None:
        """:meth:`app_event` from the loop or any other thread (a sync hook runs in one); a
        mistake is still raised in the caller's thread."""
        if threading.get_ident() == self._loop_thread:
            self.app_event(name, data)
            return
        validated_app_event(name, data)
        self._loop.call_soon_threadsafe(self.app_event, name, data)

    def tool_call(self, call: ToolCall) -> None:
        """A finished tool call; one that failed is an error like a provider's, visible where
        errors are."""
        self.record.tool_calls.append(call)
        self.submit(
            ToolCallEvent(
                idempotency_key=self.record.next_key(),
                session_id=self.record.session_id,
                at=self.record.now(),
                call_id=call.call_id[:256] or "unknown",
                name=storable_text(call.name)[:256] or "unknown",
                turn=call.turn,
                arguments=storable_text(call.arguments)[:MAX_TOOL_TEXT],
                result=storable_text(call.result)[:MAX_TOOL_TEXT],
                outcome=call.outcome,
                duration_s=max(0.0, call.duration_s),
                interrupted=call.interrupted,
            )
        )
        if call.outcome in (ToolOutcome.ERROR, ToolOutcome.TIMEOUT, ToolOutcome.STALLED):
            self.error("tool", f"Tool{call.outcome.value.title()}", recoverable=True)

    def handoff(self, from_agent: str, to_agent: str) -> None:
        self.submit(
            HandoffEvent(
                idempotency_key=self.record.next_key(),
                session_id=self.record.session_id,
                at=self.record.now(),
                from_agent=storable_text(from_agent)[:256],
                to_agent=storable_text(to_agent)[:256],
            )
        )

    def flow_state(self, state: dict[str, JsonValue], change: NodeChange | None = None) -> None:
        """Where a flow is (``state``, its snapshot), after ``change`` (a node change) or after
        data it collected without moving (``None``): one key per write. A state the contract
        refuses (data over its limit) is counted and logged, never raised: the call goes on,
        and the summary still says where the flow ended.

        Built without re-validation, as a message is: every field is our own (declared names,
        counts, the snapshot the flow made), and the one part that is not, the state's size
        and its data, is checked here (validating the whole would cost more than the move)."""
        problem = state_problem(state)
        if problem is not None:
            self.record.counters.writes_refused += 1
            self._log.error(
                "flow state refused by the contract: not written",
                extra={"kind": "flow_state", "error_type": "FlowStateTooLarge"},
            )
            return
        moved: dict[str, Any] = {"edge": None, "from_node": None, "by": None, "dwell_s": None}
        if change is not None:
            moved = {
                "edge": change.edge,
                "from_node": change.source,
                "by": change.by,
                "dwell_s": max(0.0, change.dwell_s),
            }
        event = FlowStateEvent.model_construct(
            idempotency_key=self.record.next_key(),
            session_id=self.record.session_id,
            at=self.record.now(),
            kind="flow_state",
            flow=state["flow"],
            step=state["steps"],
            to_node=state["node"],
            state=state,
            **moved,
        )
        self.submit(event)

    def submit(self, event: Event) -> None:
        try:
            self._outbox.submit_event(self._conversation_id, event)
        except OutboxError as exc:
            self._refused(event.kind, exc)
        else:
            self.record.counters.writes += 1

    def summary(self, reason: EndReason, timeline: Timeline) -> None:
        """The session summary: the last write of a session."""
        try:
            summary = self.record.summary(reason, timeline, self.flow_summaries())
        except ValueError as exc:  # pydantic's ValidationError: a field the contract refuses
            # Without this the session would never leave persisting: the flush and the exit
            # still come, the rest of the conversation is already in the outbox.
            self.record.counters.writes_refused += 1
            self._log.error(
                "session summary refused by the contract: not written",
                extra={"kind": "session", "error_type": type(exc).__name__},
            )
            return
        try:
            self._outbox.submit_session(summary)
        except OutboxError as exc:
            self._refused("session", exc)
        else:
            self.record.counters.writes += 1

    def _refused(self, kind: str, error: OutboxError) -> None:
        self.record.counters.writes_refused += 1
        if isinstance(error, SpoolFullError):
            # The call goes on; the write cannot be kept. Loud, counted, never silent.
            self._log.error("outbox full: write refused", extra={"kind": kind})
        else:
            # The outbox is already closed (a livekit event arriving after the job let go):
            # never acknowledged, so nothing promised is lost; counted and logged all the same.
            self._log.error("outbox closed: write refused", extra={"kind": kind})
