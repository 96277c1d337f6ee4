"""SessionEvents: livekit's session events become lifecycle triggers and backend writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from livekit.agents import (
    AgentStateChangedEvent,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
    llm,
)
from livekit.agents.llm import AgentHandoff
from livekit.agents.voice import SpeechHandle

from tests.engine.fakes import FakeAgentSession, FakeOutbox, lifecycle, session_writes, trail
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.foreign_speech import ForeignSpeeches
from voicefsm.engine.session_events import SessionEvents
from voicefsm.lifecycle import HangUp, Joined, Lifecycle, Resumed, UserTurnCompleted


@dataclass
class Speech:
    """The pipeline's side (``SpeechProgress``)."""

    replies: dict[str, int] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    closed: bool = False

    def audio_started(self, speech_id: str) -> int | None:
        self.started.append(speech_id)
        return self.replies.get(speech_id)

    def session_closed(self) -> None:
        self.closed = True

    # The sorter's questions (OwnSpeeches), all "no": every speech here is livekit's own.
    def is_own(self, handle: SpeechHandle) -> bool:
        return False

    def sent(self, message: llm.ChatMessage) -> bool:
        return False

    def adopted(self, handle: SpeechHandle) -> bool:
        return False


@dataclass
class Handoffs:
    seen: list[tuple[str | None, str | None]] = field(default_factory=list)

    def handed_off(self, old_agent: str | None, new_agent: str | None) -> None:
        self.seen.append((old_agent, new_agent))


@dataclass
class Rig:
    session: FakeAgentSession
    machine: Lifecycle
    speech: Speech
    outbox: FakeOutbox
    handoffs: Handoffs


def _rig() -> Rig:
    session, speech, outbox, handoffs = FakeAgentSession(), Speech(), FakeOutbox(), Handoffs()
    machine, _ = lifecycle()
    machine.fire(Joined())
    machine.fire(Resumed())
    foreign = ForeignSpeeches(machine, speech, EarlyTurns(machine))
    SessionEvents(
        session,  # type: ignore[arg-type]
        machine,
        speech=speech,
        writes=session_writes(outbox),
        foreign=foreign,
        handoffs=handoffs,
    )
    return Rig(session, machine, speech, outbox, handoffs)


async def test_the_agent_speaking_starts_the_reply_it_belongs_to() -> None:
    rig = _rig()
    rig.machine.fire(UserTurnCompleted("Hi"))
    reply = SpeechHandle.create()
    rig.speech.replies[reply.id] = rig.machine.turn
    rig.session.current_speech = reply

    rig.session.emit(
        "agent_state_changed", AgentStateChangedEvent(old_state="thinking", new_state="speaking")
    )

    assert rig.speech.started == [reply.id]
    assert trail(rig.machine)[-1] == ("thinking", "reply_started", "speaking")


async def test_speaking_that_is_not_a_reply_of_ours_starts_nothing() -> None:
    rig = _rig()
    rig.machine.fire(UserTurnCompleted("Hi"))
    rig.session.current_speech = SpeechHandle.create()  # an apology, livekit's own say
    rig.session.emit(
        "agent_state_changed", AgentStateChangedEvent(old_state="thinking", new_state="speaking")
    )
    rig.session.current_speech = None
    rig.session.emit(
        "agent_state_changed", AgentStateChangedEvent(old_state="listening", new_state="speaking")
    )
    assert trail(rig.machine)[-1] == ("listening", "user_turn_completed", "thinking")


async def test_the_user_going_away_is_the_silence_timeout_of_the_current_turn() -> None:
    rig = _rig()
    rig.session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
    )
    assert trail(rig.machine)[-1] == ("listening", "silence_timeout", "persisting")


async def test_transcripts_speeches_and_errors_are_written() -> None:
    rig = _rig()
    speech = SpeechHandle.create()
    rig.session.emit(
        "user_input_transcribed", UserInputTranscribedEvent(transcript="Hi", is_final=False)
    )
    rig.session.emit(
        "user_input_transcribed",
        UserInputTranscribedEvent(transcript="Hi there", is_final=True, language="en"),
    )
    rig.session.emit(
        "speech_created",
        SpeechCreatedEvent(user_initiated=True, source="say", speech_handle=speech),
    )
    rig.session.emit("error", ErrorEvent(error=ValueError("secret detail"), source=None))

    assert rig.outbox.kinds() == ["transcription", "speech", "error"]
    transcription, spoken, error = (event for _, event in rig.outbox.events)
    assert (transcription.text, transcription.language) == ("Hi there", "en")  # type: ignore[union-attr]
    assert (spoken.speech_id, spoken.source, spoken.user_initiated) == (speech.id, "say", True)  # type: ignore[union-attr]
    assert (error.source, error.error_type, error.recoverable) == ("session", "ValueError", False)  # type: ignore[union-attr]


async def test_a_handoff_goes_to_the_agent_link_but_the_first_agent_is_no_handoff() -> None:
    rig = _rig()
    first = AgentHandoff(old_agent_id=None, new_agent_id="greeter")
    second = AgentHandoff(old_agent_id="greeter", new_agent_id="billing")
    for item in (first, second):
        rig.session.emit("conversation_item_added", ConversationItemAddedEvent(item=item))
    assert rig.handoffs.seen == [("greeter", "billing")]


async def test_a_user_message_livekit_answers_itself_becomes_a_turn() -> None:
    rig = _rig()
    rig.session.emit(
        "speech_created",
        SpeechCreatedEvent(
            user_initiated=True, source="generate_reply", speech_handle=SpeechHandle.create()
        ),
    )
    message = llm.ChatMessage(role="user", content=["What's on?"])
    rig.session.emit("conversation_item_added", ConversationItemAddedEvent(item=message))
    assert trail(rig.machine)[-1] == ("listening", "user_turn_completed", "thinking")


@pytest.mark.parametrize(
    ("reason", "trigger"),
    [
        ("participant_disconnected", "participant_left"),
        ("error", "fatal_error"),
        ("user_initiated", "hang_up"),
    ],
)
async def test_livekit_closing_the_session_ends_the_lifecycle_with_its_reason(
    reason: str, trigger: str
) -> None:
    rig = _rig()
    rig.session.emit("close", CloseEvent(reason=reason))  # type: ignore[arg-type]
    assert rig.speech.closed
    assert trail(rig.machine)[-1] == ("listening", trigger, "persisting")


async def test_a_close_while_ending_changes_nothing() -> None:
    rig = _rig()
    rig.machine.fire(HangUp())
    entries = len(rig.machine.timeline)
    rig.session.emit("close", CloseEvent(reason="participant_disconnected"))  # type: ignore[arg-type]
    assert rig.speech.closed
    assert len(rig.machine.timeline) == entries
