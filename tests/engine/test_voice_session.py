"""VoiceSession, built on fakes: the call's parts wired in one place, and what the session
offers from outside (ending it, typed text, the tools offered, waiting until it settles)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool

from tests.engine.fakes import FakeAgentSession, FakeOutbox, finish, settle, trail
from voicefsm.agent import VoiceAgent
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine.session import VoiceSession
from voicefsm.lifecycle import EndReason, State
from voicefsm.settings import load_settings


class Concierge(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You help.")

    @function_tool
    async def lookup(self, context: RunContext[None], city: str) -> str:
        """Look up the weather."""
        return "sunny"


def _session(tmp_path: Path, room: RoomMetadata | None = None):  # type: ignore[no-untyped-def]
    agent_session, outbox = FakeAgentSession(), FakeOutbox()
    session = VoiceSession(
        agent_session,  # type: ignore[arg-type]
        Concierge(),
        settings=load_settings(spool_path=tmp_path / "spool.sqlite3"),
        session_id="call-1",
        outbox=outbox,  # type: ignore[arg-type]
        client=None,
        room=room,
        participant=ParticipantMetadata(display_name="Ada"),
    )
    return session, agent_session, outbox


async def test_the_session_names_its_conversation_and_claims_it(tmp_path: Path) -> None:
    session, _, outbox = _session(tmp_path, RoomMetadata(conversation_id="c_known"))
    assert (session.session_id, session.conversation_id) == ("call-1", "c_known")
    assert outbox.claimed == "c_known"
    assert session.record.conversation_id == "c_known"

    fresh, _, _ = _session(tmp_path)
    assert fresh.conversation_id.startswith("c_")


@pytest.mark.parametrize(
    "reason",
    [EndReason.HANG_UP, EndReason.PARTICIPANT_LEFT, EndReason.FATAL_ERROR, EndReason.END_CALL],
)
async def test_a_call_ended_from_outside_ends_with_that_reason(
    tmp_path: Path, reason: EndReason
) -> None:
    session, _, _ = _session(tmp_path)
    await session.agent.on_enter()
    session.end(reason)
    assert session.lifecycle.end_reason is reason
    assert session.lifecycle.state is State.PERSISTING


async def test_the_silence_timeout_is_livekits_to_report_not_the_applications(
    tmp_path: Path,
) -> None:
    session, _, _ = _session(tmp_path)
    with pytest.raises(ValueError, match="cannot be ended from outside"):
        session.end(EndReason.SILENCE_TIMEOUT)  # type: ignore[arg-type]


async def test_typed_text_takes_the_path_of_a_spoken_turn(tmp_path: Path) -> None:
    session, agent_session, _ = _session(tmp_path)
    await session.agent.on_enter()
    await settle()
    finish(agent_session.said[0][1], "Hello Ada!")
    await session.settled()

    await session.typed_text("Typed hello")
    await settle()
    assert trail(session.lifecycle)[-1] == ("listening", "user_turn_completed", "thinking")
    assert [m.text for m in session.record.history] == ["Hello Ada!", "Typed hello"]
    [(options, _)] = agent_session.replies
    assert options["user_input"].text_content == "Typed hello"


async def test_the_tools_offered_are_the_sessions_and_the_agents(tmp_path: Path) -> None:
    session, _, _ = _session(tmp_path)
    assert session.offered_tools() == {"lookup"}


async def test_settled_waits_for_the_greeting_to_be_heard(tmp_path: Path) -> None:
    session, agent_session, _ = _session(tmp_path)
    await session.agent.on_enter()
    waiting = asyncio.ensure_future(session.settled())
    await settle()
    assert not waiting.done()
    finish(agent_session.said[0][1], "Hello Ada!")
    await asyncio.wait_for(waiting, 5)
    assert session.lifecycle.state is State.LISTENING
