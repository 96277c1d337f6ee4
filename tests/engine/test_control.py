"""CallControl and AgentBridge: the lifecycle's effects each reach the part that owns them, and
what the agent reports reaches the lifecycle; a whole call runs from joining to exiting on
fakes, without livekit's AgentSession."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit.agents import StopResponse, llm
from livekit.agents.voice.io import AgentInput

from tests.engine.fakes import (
    LOG,
    FakeAgentSession,
    FakeOutbox,
    finish,
    session_writes,
    settle,
    trail,
)
from voicefsm.agent import VoiceAgent
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine.agent_bridge import AgentBridge
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.control import CallControl
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.enrichment import Enrichment
from voicefsm.engine.latency import TurnLatencies
from voicefsm.engine.participants import CallerContext
from voicefsm.engine.phrases import phrases_for
from voicefsm.engine.room_control import NoRoom
from voicefsm.engine.tool_watch import ToolWatch
from voicefsm.engine.writes import SessionWrites
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import (
    EndReason,
    HandedOff,
    Joined,
    ReplyStarted,
    Resumed,
    State,
    ToolCall,
    ToolOutcome,
)
from voicefsm.providers.devices import SimulatedMicrophone
from voicefsm.settings import Settings, load_settings


@dataclass
class Call:
    session: FakeAgentSession
    outbox: FakeOutbox
    writes: SessionWrites
    control: CallControl
    link: AgentBridge
    agent: VoiceAgent


class Room:
    """A room that can be hung up (``RoomControl``)."""

    available = True

    def __init__(self) -> None:
        self.deleted = 0

    async def delete_room(self) -> bool:
        self.deleted += 1
        return True

    async def update_metadata(self, metadata: str) -> bool:
        return True


def _settings(tmp_path: Path) -> Settings:
    return load_settings(spool_path=tmp_path / "spool.sqlite3", flush_deadline_s=1.0)


async def _call(tmp_path: Path, room: Room | None = None) -> Call:
    session, outbox = FakeAgentSession(), FakeOutbox()
    settings = _settings(tmp_path)
    writes = session_writes(outbox)
    tasks = CallTasks(LOG)
    agent = VoiceAgent(instructions="test", greeting="Welcome!")
    caller = CallerContext(ParticipantMetadata(display_name="Ada"), tasks)
    control = CallControl(
        session,  # type: ignore[arg-type]
        settings=settings,
        writes=writes,
        outbox=outbox,  # type: ignore[arg-type]
        client=None,
        known_conversation=False,
        enrichment=Enrichment(
            None,
            conversation_id=ConversationId("c1"),
            session_id=SessionId("s1"),
            deadline_s=1.0,
            backoff_s=1.0,
            log=LOG,
        ),
        phrases=phrases_for(agent, RoomMetadata(), caller.participant),
        caller=caller,
        room_control=room or NoRoom(),
        tasks=tasks,
        latencies=TurnLatencies(),
        log=LOG,
    )
    tools = ToolWatch(session, control.lifecycle, control.pipeline, filler_after_s=0)  # type: ignore[arg-type]
    link = AgentBridge(
        session,  # type: ignore[arg-type]
        agent,
        lifecycle=control.lifecycle,
        turns=EarlyTurns(control.lifecycle),
        pipeline=control.pipeline,
        hooks=control.hooks,
        tools=tools,
        writes=writes,
        caller=caller,
        room=RoomMetadata(),
        settings=settings,
        tasks=tasks,
    )
    return Call(session, outbox, writes, control, link, agent)


async def test_a_call_runs_from_joining_to_exiting_through_its_effects(tmp_path: Path) -> None:
    call = await _call(tmp_path)
    await call.agent.on_enter()  # livekit starts the agent: joined
    await settle()  # loading the context (no backend: a new conversation) is a task
    [(greeting, handle, _)] = call.session.said
    assert greeting == "Welcome!"
    finish(handle, "Welcome!")
    await settle()

    message = llm.ChatMessage(role="user", content=["Is the pool open?"])
    with pytest.raises(StopResponse):  # the lifecycle decides when to reply, not livekit
        await call.agent.on_user_turn_completed(llm.ChatContext(), message)
    await settle()
    [(options, reply)] = call.session.replies
    assert options == {"user_input": message}
    call.control.lifecycle.fire(ReplyStarted(1))
    finish(reply, "Until nine.")
    await settle()

    call.link.end_call()  # from a tool, with nothing left to hear: at once
    await settle()
    farewell = call.session.said[-1][1]
    finish(farewell, "Thanks for calling. Goodbye!")
    await asyncio.wait_for(call.control.finished.wait(), 5)

    assert [step[1] for step in trail(call.control.lifecycle)] == [
        "joined",
        "context_loaded",
        "greeted",
        "user_turn_completed",
        "reply_started",
        "reply_finished",
        "end_call",
        "spoke",
        "persisted",
    ]
    assert [(m.role.value, m.text) for m in call.writes.record.history] == [
        ("assistant", "Welcome!"),
        ("user", "Is the pool open?"),
        ("assistant", "Until nine."),
        ("assistant", "Thanks for calling. Goodbye!"),
    ]
    [summary] = call.outbox.summaries
    assert summary.end_reason is EndReason.END_CALL
    assert call.outbox.flushed == 1.0
    assert call.session.closed


async def test_the_callers_audio_is_detached_once_the_farewell_is_heard(tmp_path: Path) -> None:
    # Persisting may wait seconds on the disk and the backend: the caller's frames must not
    # keep the speech recognition busy meanwhile (livekit's room input drops detached frames).
    call = await _call(tmp_path)
    microphone = SimulatedMicrophone(lambda _text: None)
    call.session.input.audio = microphone
    flushed_listening: list[bool] = []
    flush = call.outbox.flush

    async def flush_noting(deadline_s: float) -> int:
        flushed_listening.append(call.session.input.audio_enabled)
        return await flush(deadline_s)

    call.outbox.flush = flush_noting  # type: ignore[method-assign]
    await call.agent.on_enter()
    await settle()
    finish(call.session.said[0][1], "Welcome!")
    call.link.end_call()
    await settle()
    assert call.session.input.audio_enabled  # the farewell is not heard yet
    finish(call.session.said[-1][1], "Thanks for calling. Goodbye!")
    await asyncio.wait_for(call.control.finished.wait(), 5)
    assert flushed_listening == [False]
    assert not call.session.input.audio_enabled


async def test_a_failure_detaching_the_callers_audio_still_persists_the_call(
    tmp_path: Path,
) -> None:
    call = await _call(tmp_path)

    def user_state_listener_fails(_enabled: bool) -> None:
        raise RuntimeError("a listener of livekit's failed")

    call.session.input = AgentInput(
        video_changed=lambda: None,
        audio_changed=lambda: None,
        audio_enabled_cb=user_state_listener_fails,
    )
    call.session.input.audio = SimulatedMicrophone(lambda _text: None)
    await call.agent.on_enter()
    await settle()
    finish(call.session.said[0][1], "Welcome!")
    call.link.end_call()
    await settle()
    finish(call.session.said[-1][1], "Thanks for calling. Goodbye!")
    await asyncio.wait_for(call.control.finished.wait(), 5)
    [summary] = call.outbox.summaries
    assert summary.end_reason is EndReason.END_CALL
    assert trail(call.control.lifecycle)[-1][1] == "persisted"


async def test_tool_calls_and_handoffs_are_recorded(tmp_path: Path) -> None:
    call = await _call(tmp_path)
    control = call.control
    control.record_tool(ToolCall("c1", "lookup", 1, "{}", "sunny", ToolOutcome.OK, 0.1))
    control.record_handoff(HandedOff("FrontDesk", "Billing"))
    assert call.outbox.kinds() == ["tool_call", "handoff"]


async def test_an_agent_ending_a_call_hangs_the_room_up_once_persisted(tmp_path: Path) -> None:
    room = Room()
    call = await _call(tmp_path, room)
    call.control.shut_down(EndReason.END_CALL)
    await asyncio.wait_for(call.control.finished.wait(), 5)
    assert room.deleted == 1

    caller_left = await _call(tmp_path, room)  # the caller hung up: nobody to hang up
    caller_left.control.shut_down(EndReason.HANG_UP)
    await asyncio.wait_for(caller_left.control.finished.wait(), 5)
    assert room.deleted == 1


async def test_end_call_waits_for_the_reply_in_progress_to_be_heard(tmp_path: Path) -> None:
    call = await _call(tmp_path)
    lifecycle = call.control.lifecycle
    await call.agent.on_enter()
    await settle()
    finish(call.session.said[0][1], "Welcome!")
    await settle()
    await call.link.user_turn(llm.ChatMessage(role="user", content=["Book it and bye"]))
    await settle()
    [(_, reply)] = call.session.replies

    call.link.end_call()  # a tool inside that reply
    assert lifecycle.state is State.THINKING
    lifecycle.fire(ReplyStarted(1))
    finish(reply, "Booked.")
    await settle()

    assert [step[1] for step in trail(lifecycle)][-3:] == [
        "reply_started",
        "reply_finished",
        "end_call",
    ]


async def test_blank_turns_are_no_turns_and_only_the_first_agent_joins(tmp_path: Path) -> None:
    call = await _call(tmp_path)
    await call.link.agent_entered(call.agent)
    await call.link.agent_entered(call.agent)  # a later agent is a handoff, not a join
    await call.link.user_turn(llm.ChatMessage(role="user", content=["   "]))
    assert [step[1] for step in trail(call.control.lifecycle)] == ["joined"]


class Billing(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="billing", apology="Billing could not answer that.")


async def test_a_handoff_binds_the_new_agent_its_phrases_and_is_on_the_record(
    tmp_path: Path,
) -> None:
    call = await _call(tmp_path)
    lifecycle = call.control.lifecycle
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())
    await settle()
    billing = Billing()
    call.session.current_agent = billing

    call.link.handed_off("FrontDesk", "Billing")
    await settle()

    assert call.link.agent is billing
    assert billing._runtime is call.link
    assert call.control.pipeline.phrases.apology == "Billing could not answer that."
    assert trail(lifecycle)[-1] == ("listening", "handed_off", "listening")
    assert [e.detail for e in lifecycle.timeline][-1] == "FrontDesk -> Billing"


async def test_a_turn_before_the_session_greets_is_held_then_answered(tmp_path: Path) -> None:
    call = await _call(tmp_path)
    message = llm.ChatMessage(role="user", content=["  Hello  "])
    await call.link.user_turn(message)  # too early: held until the lifecycle takes turns
    assert trail(call.control.lifecycle) == []
    await call.agent.on_enter()
    await settle()

    assert trail(call.control.lifecycle)[-1] == ("greeting", "user_turn_completed", "thinking")
    [(options, _)] = call.session.replies
    assert options == {"user_input": message}
