"""livekit's session events, turned into lifecycle triggers and backend writes.

``agent_state_changed`` to speaking starts the current reply (``ReplyStarted``); the user going
``away`` is the silence timeout; transcripts, speeches and errors are written; ``close`` ends the
lifecycle with the reason livekit gives, so a session livekit closes is still persisted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from livekit.agents.voice import SpeechHandle

from voicefsm import livekit_compat
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
from voicefsm.runtime.adoption import ForeignSpeeches
from voicefsm.runtime.pipeline import Pipeline
from voicefsm.runtime.recorder import Recorder

_CLOSE_REASONS: dict[str, type[TriggerData]] = {
    "participant_disconnected": ParticipantLeft,
    "error": FatalError,
}


class SessionEvents:
    """Subscribes to one ``AgentSession``'s events on construction."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        lifecycle: Lifecycle,
        pipeline: Pipeline,
        recorder: Recorder,
        *,
        on_handoff: Callable[[str | None, str | None], None],
        fire_turn: Callable[[TriggerData], object],
        held: Callable[[SpeechHandle], bool],
    ) -> None:
        self._session = agent_session
        self._lifecycle = lifecycle
        self._pipeline = pipeline
        self._recorder = recorder
        self._on_handoff = on_handoff
        self._foreign = ForeignSpeeches(
            is_own=pipeline.is_own,
            sent=pipeline.sent,
            # A speech answering a turn that waits for the lifecycle is that turn's already.
            adopted=lambda handle: pipeline.adopted(handle) or held(handle),
            fire=fire_turn,
        )
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
        self._pipeline.deadlines.started(speech.id)
        turn = self._pipeline.reply_turn(speech.id)
        if turn is not None and self._lifecycle.state is State.THINKING:
            self._lifecycle.fire(ReplyStarted(turn))

    def _item_added(self, event: ConversationItemAddedEvent) -> None:
        item = event.item
        if item.type == "agent_handoff":
            if item.old_agent_id is not None:  # from none: the first agent, the start itself
                self._on_handoff(item.old_agent_id, item.new_agent_id)
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
            self._recorder.transcription(event.transcript, language)

    def _speech_created(self, event: SpeechCreatedEvent) -> None:
        self._recorder.speech(
            event.speech_handle.id, event.source, user_initiated=event.user_initiated
        )
        self._foreign.speech_created(event.speech_handle)

    def _error(self, event: ErrorEvent) -> None:
        error = event.error
        source = type(event.source).__name__ if event.source is not None else "session"
        self._recorder.error(
            source,
            type(getattr(error, "error", error)).__name__,
            recoverable=bool(getattr(error, "recoverable", False)),
        )

    def _close(self, event: CloseEvent) -> None:
        self._pipeline.closed = True
        if self._lifecycle.state not in LIVE_STATES:
            return  # we closed it ourselves while ending, or it was already ending
        reason = str(getattr(event.reason, "value", event.reason))
        self._lifecycle.fire(_CLOSE_REASONS.get(reason, HangUp)())
