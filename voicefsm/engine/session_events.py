"""livekit's session events, turned into lifecycle triggers and backend writes.

``agent_state_changed`` to speaking starts the current reply (``ReplyStarted``); the user going
``away`` is the silence timeout; transcripts, speeches and errors are written; user messages and
speeches livekit starts on its own go to the foreign-speech sorter; a handoff goes to the
agent's link; ``close`` ends the lifecycle with the reason livekit gives, so a session livekit
closes is still persisted.
"""

from __future__ import annotations

from typing import Any, Protocol

from livekit.agents import (
    AgentSession,
    AgentStateChangedEvent,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
    llm,
)

from voicefsm import livekit_compat
from voicefsm.engine.foreign_speech import ForeignSpeeches
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import (
    FatalError,
    HangUp,
    Lifecycle,
    ParticipantLeft,
    ReplyStarted,
    SilenceTimeout,
    State,
    TriggerData,
)
from voicefsm.lifecycle.states import LIVE_STATES

_CLOSE_REASONS: dict[str, type[TriggerData]] = {
    "participant_disconnected": ParticipantLeft,
    "error": FatalError,
}


class SpeechProgress(Protocol):
    """What the events tell the speaking side of the session (implemented by
    :class:`~voicefsm.engine.pipeline.Pipeline`)."""

    def audio_started(self, speech_id: str) -> int | None:
        """A speech's first audio is out; the turn it replies to, if it is a reply."""

    def session_closed(self) -> None:
        """livekit closed the session: nothing more can be said."""


class Handoffs(Protocol):
    """Who is told that another agent took over (implemented by
    :class:`~voicefsm.engine.agent_bridge.AgentBridge`)."""

    def handed_off(self, old_agent: str | None, new_agent: str | None) -> None: ...


class SessionEvents:
    """Subscribes to one ``AgentSession``'s events on construction."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        lifecycle: Lifecycle,
        *,
        speech: SpeechProgress,
        writes: SessionWrites,
        foreign: ForeignSpeeches,
        handoffs: Handoffs,
    ) -> None:
        self._session = agent_session
        self._lifecycle = lifecycle
        self._speech = speech
        self._writes = writes
        self._foreign = foreign
        self._handoffs = handoffs
        on = agent_session.on
        listener = livekit_compat.event_listener
        on("conversation_item_added", listener(self._item_added))
        on("agent_state_changed", listener(self._agent_state))
        on("user_state_changed", listener(self._user_state))
        on("user_input_transcribed", listener(self._transcribed))
        on("speech_created", listener(self._speech_created))
        on("error", listener(self._error))
        on("close", listener(self._close))

    def _agent_state(self, event: AgentStateChangedEvent) -> None:
        if event.new_state != "speaking":
            return
        speech = self._session.current_speech
        if speech is None:
            return
        turn = self._speech.audio_started(speech.id)
        if turn is not None and self._lifecycle.state is State.THINKING:
            self._lifecycle.fire(ReplyStarted(turn))

    def _item_added(self, event: ConversationItemAddedEvent) -> None:
        item = event.item
        if item.type == "agent_handoff":
            if item.old_agent_id is not None:  # from none: the first agent, the start itself
                self._handoffs.handed_off(item.old_agent_id, item.new_agent_id)
        elif isinstance(item, llm.ChatMessage) and item.role == "user":
            self._foreign.user_message(item)

    def _user_state(self, event: UserStateChangedEvent) -> None:
        # livekit's user_away_timeout: the user and the agent both silent. Only listening has
        # the edge, so the lifecycle's current turn is the one the user had the floor in.
        if event.new_state == "away":
            self._lifecycle.fire(SilenceTimeout(self._lifecycle.turn))

    def _transcribed(self, event: UserInputTranscribedEvent) -> None:
        if event.is_final and event.transcript:
            language = str(event.language) if event.language else None
            self._writes.transcription(event.transcript, language)

    def _speech_created(self, event: SpeechCreatedEvent) -> None:
        self._writes.speech(
            event.speech_handle.id, event.source, user_initiated=event.user_initiated
        )
        self._foreign.speech_created(event.speech_handle)

    def _error(self, event: ErrorEvent) -> None:
        error = event.error
        source = type(event.source).__name__ if event.source is not None else "session"
        self._writes.error(
            source,
            type(getattr(error, "error", error)).__name__,
            recoverable=bool(getattr(error, "recoverable", False)),
        )

    def _close(self, event: CloseEvent) -> None:
        self._speech.session_closed()
        if self._lifecycle.state not in LIVE_STATES:
            return  # we closed it ourselves while ending, or it was already ending
        reason = str(getattr(event.reason, "value", event.reason))
        self._lifecycle.fire(_CLOSE_REASONS.get(reason, HangUp)())
