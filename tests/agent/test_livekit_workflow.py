"""LiveKit's own test workflow on a voicefsm agent: ``session.run``, ``RunResult.expect``,
``mock_tools`` and ``judge`` give what they give on a bare livekit agent, and the lifecycle, the
history and the backend see every such turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession, AgentTask, RunContext, function_tool, mock_tools

from trials.stubs.fault_proxy import Fault, fault_proxy
from trials.support import Backend
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.context import RoomMetadata
from voicefsm.examples.bistro import BistroAgent
from voicefsm.lifecycle import State
from voicefsm.providers.scripted import ScriptedJudge, ScriptedLLM, ScriptedToolCall, ScriptedTurn

pytestmark = pytest.mark.slow

BOOKING = "A table for two on Friday at eight"
SCRIPT = {
    BOOKING: ScriptedTurn(
        tools=(ScriptedToolCall("book_table", {"day": "Friday", "time": "20:00", "people": 2}),)
    )
}


def _events(result: Any) -> list[tuple[str, str | None]]:
    return [
        (e.type, getattr(e.item, "name", None) or getattr(e.item, "text_content", None))
        for e in result.events
    ]


async def _bare_events(user_input: str) -> list[tuple[str, str | None]]:
    llm = ScriptedLLM(ttft_s=0.01, script=SCRIPT)
    async with AgentSession(llm=llm, vad=None, turn_handling={"turn_detection": "manual"}) as bare:
        await bare.start(BistroAgent())
        with mock_tools(
            BistroAgent, {"book_table": lambda ctx, day, time, people: "Booked, B0001."}
        ):
            return _events(await bare.run(user_input=user_input))


async def test_run_expect_mock_tools_and_judge_match_a_bare_livekit_agent(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    llm = ScriptedLLM(ttft_s=0.01, script=SCRIPT)
    judge = ScriptedJudge(lambda intent, message: "B0001" in message)
    providers = Providers(llm=llm, turn_detection="manual")
    async with open_session(
        BistroAgent(), providers=providers, settings=settings, session_id="wf-1"
    ) as session:
        await session.settled()
        with mock_tools(
            BistroAgent, {"book_table": lambda ctx, day, time, people: "Booked, B0001."}
        ):
            result = await session.agent_session.run(user_input=BOOKING)
        result.expect.next_event().is_function_call(name="book_table", arguments={"people": 2})
        result.expect.next_event().is_function_call_output(output="Booked, B0001.")
        message = result.expect.next_event().is_message(role="assistant")
        await message.judge(judge, intent="gives the booking reference")
        result.expect.no_more_events()
        plain = await session.agent_session.run(user_input="Do you have parking")

    assert _events(result) == await _bare_events(BOOKING)  # the same, event for event
    steps = [(e.source.value, e.trigger.value, e.dest.value) for e in session.lifecycle.timeline]
    assert steps[3:] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "tool_started", "thinking"),
        ("thinking", "tool_finished", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_finished", "listening"),
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_finished", "listening"),
        ("listening", "hang_up", "persisting"),
        ("persisting", "spoke", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    said = [(m.role.value, m.text) for m in session.record.history]
    assert said[1:5] == [
        ("user", BOOKING),
        ("assistant", "Booked, B0001."),
        ("user", "Do you have parking"),
        ("assistant", _events(plain)[0][1]),
    ]
    stored = [(e["role"], e["text"]) for e in backend.events("message")]
    assert stored == said  # every run turn persisted, in order
    assert [c["result"] for c in backend.events("tool_call")] == ["Booked, B0001."]


class Survey(AgentTask[str]):
    """A plain livekit AgentTask: livekit answers its turns itself."""

    def __init__(self) -> None:
        super().__init__(instructions="Ask for a favourite colour.")

    async def on_enter(self) -> None:
        self.session.say("What is your favourite colour?")

    @function_tool
    async def record_colour(self, context: RunContext[None], colour: str) -> None:
        """Record the caller's favourite colour."""
        self.complete(colour)


class Host(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You run surveys.")

    @function_tool
    async def start_survey(self, context: RunContext[None]) -> str:
        """Run the colour survey."""
        colour = await Survey()
        self.write_event("survey", {"colour": colour})
        return f"Thanks, noted: {colour}."


async def test_an_agent_task_keeps_one_lifecycle_and_its_turns_are_the_sessions(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    llm = ScriptedLLM(
        ttft_s=0.01,
        script={
            "Start the survey": ScriptedTurn(tools=(ScriptedToolCall("start_survey"),)),
            "Blue": ScriptedTurn(tools=(ScriptedToolCall("record_colour", {"colour": "blue"}),)),
        },
    )
    providers = Providers(llm=llm, turn_detection="manual")
    async with open_session(
        Host(), providers=providers, settings=settings, session_id="task-1"
    ) as session:
        await session.settled()
        await session.agent_session.run(user_input="Start the survey")
        await session.agent_session.run(user_input="Blue")

    steps = [(e.trigger.value, e.detail) for e in session.lifecycle.timeline]
    handoffs = [detail for trigger, detail in steps if trigger == "handed_off"]
    assert handoffs == ["host -> survey", "survey -> host"]
    users = [m.text for m in session.record.history if m.role.value == "user"]
    assert users == ["Start the survey", "Blue"]  # the task's turn is a turn of the session
    assert session.lifecycle.turn == 2
    assert [e["data"] for e in backend.events("app")] == [{"colour": "blue"}]
    assert [e["to_agent"] for e in backend.events("handoff")] == ["survey", "host"]
    said = [m.text for m in session.record.history if m.role.value == "assistant"]
    assert "What is your favourite colour?" in said  # the task's question, heard and recorded
    assert said[-2:] == ["Thanks, noted: blue.", "Thanks for calling. Goodbye!"]


async def test_a_turn_typed_before_the_session_has_loaded_its_context_is_not_lost(
    tmp_path: Path, backend: Backend
) -> None:
    """livekit's console sends typed lines as soon as it connects: one that comes while the
    session is still loading the conversation is held, then taken as the first turn."""
    with fault_proxy(backend.url) as slow:
        slow.always = Fault("delay_before", delay_s=0.5)  # recent messages take a while
        settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=slow.url)
        providers = Providers(llm=ScriptedLLM(ttft_s=0.01), turn_detection="manual")
        async with open_session(
            VoiceAgent(greeting="Hello!"),
            providers=providers,
            settings=settings,
            session_id="early-1",
            room=RoomMetadata(conversation_id="c_early"),
        ) as session:
            assert session.lifecycle.state is State.LOADING_CONTEXT  # the case under test
            result = await session.agent_session.run(user_input="Are you open on Sunday")
            await session.settled()

    result.expect.contains_message(role="assistant")
    triggers = [e.trigger.value for e in session.lifecycle.timeline]
    assert triggers[:4] == ["joined", "context_loaded", "user_turn_completed", "reply_started"]
    assert [m.text for m in session.record.history if m.role.value == "user"] == [
        "Are you open on Sunday"
    ]
    users = [e["text"] for e in backend.events("message") if e["role"] == "user"]
    assert users == ["Are you open on Sunday"]
