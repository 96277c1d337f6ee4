"""The lifecycle's :class:`~voicefsm.lifecycle.Effects` for a live session: each effect handed to
the part of the session that owns it. Every method returns at once; slow work is a task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicefsm.lifecycle import (
    EndReason,
    HandedOff,
    ToolCall,
    ToolOutcome,
    UserTurnCompleted,
    Utterance,
)

if TYPE_CHECKING:
    from voicefsm.engine.session import VoiceSession


class SessionEffects:
    """Routes the lifecycle's effects to a :class:`~voicefsm.engine.session.VoiceSession`."""

    def __init__(self, session: VoiceSession) -> None:
        self._session = session

    def load_context(self) -> None:
        self._session.spawn(self._session.load_context(), "voicefsm-load-context")

    def start_greeting(self, turn: int) -> None:
        self._session.pipeline.start_greeting(turn)

    def listen(self, turn: int) -> None:
        # Nothing to start: user turns arrive from the agent, silence from livekit's
        # user_away_timeout (voicefsm.engine.session_events).
        return

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        self._session.pipeline.start_reply(turn, request, attempt)

    def interrupt(self, turn: int) -> None:
        self._session.pipeline.interrupt()

    def apologise(self, turn: int) -> None:
        self._session.pipeline.apologise(turn)

    def record(self, utterance: Utterance) -> None:
        self._session.recorder.utterance(utterance)

    def record_tool(self, call: ToolCall) -> None:
        recorder = self._session.recorder
        recorder.tool_call(call)
        if call.outcome in (ToolOutcome.ERROR, ToolOutcome.TIMEOUT):
            # A tool that failed is an error like a provider's: visible where errors are.
            recorder.error("tool", f"Tool{call.outcome.value.title()}", recoverable=True)

    def record_handoff(self, handoff: HandedOff) -> None:
        self._session.recorder.handoff(handoff.from_agent, handoff.to_agent)

    def say_farewell(self) -> None:
        self._session.pipeline.say_farewell()

    def flush(self, reason: EndReason) -> None:
        self._session.spawn(self._session.persist(reason), "voicefsm-persist")

    def shut_down(self, reason: EndReason) -> None:
        self._session.spawn(self._session.shut_down(reason), "voicefsm-shut-down")
