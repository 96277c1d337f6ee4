"""A VoiceAgent running a flow, through a real AgentSession in text mode: the model moves the
flow with the tools generated for each node, and entering a node changes the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession, llm
from pydantic import BaseModel

from tests.agent.flow_llm import StepLLM
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.errors import FlowDefinitionError
from voicefsm.examples.booking import BookingAgent, BookingFlow, EventsDesk
from voicefsm.flows import Flow, Node, load_flow
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn


@asynccontextmanager
async def _session(agent: VoiceAgent, model: llm.LLM[Any]) -> AsyncIterator[AgentSession[None]]:
    async with AgentSession(
        llm=model, vad=None, turn_handling={"turn_detection": "manual"}
    ) as session:
        await session.start(agent)
        yield session


def _outputs(result: Any) -> list[str]:
    return [e.item.output for e in result.events if e.type == "function_call_output"]


def _script(
    **turns: tuple[str, dict[str, object]] | list[tuple[str, dict[str, object]]],
) -> dict[str, ScriptedTurn]:
    script = {}
    for text, calls in turns.items():
        listed = calls if isinstance(calls, list) else [calls]
        script[text.replace("_", " ")] = ScriptedTurn(
            tools=tuple(ScriptedToolCall(n, a) for n, a in listed)
        )
    return script


async def test_the_model_walks_the_flow_with_the_generated_tools() -> None:
    model = ScriptedLLM(
        ttft_s=0.0,
        script=_script(
            I_want_a_table=("start_booking", {}),
            Fifty_of_us=("set_party_size", {"party_size": 50}),
            Four_of_us=("set_party_size", {"party_size": 4}),
            Lets_confirm=("details_complete", {}),
            On_Friday=("set_day", {"day": "Friday"}),
            At_eight=("set_time", {"time": "20:00"}),
        ),
    )
    agent = BookingAgent()
    async with _session(agent, model) as session:
        said = []
        for text in [
            "I want a table",
            "Fifty of us",
            "Four of us",
            "Lets confirm",
            "On Friday",
            "At eight",
            "Lets confirm",
        ]:
            said += _outputs(await session.run(user_input=text))

    assert said == [
        "Done. The conversation is now at collect.",
        "Not done: party_size: Input should be less than or equal to 20.",
        "Noted. Still to collect here: day, time.",
        "Not done: still needed: day, time.",
        "Noted. Still to collect here: time.",
        "Noted. Everything this step collects is in.",
        "Done. The conversation is now at confirm.",
    ]
    assert agent.flow is not None
    assert agent.flow.node == "confirm"
    assert agent.flow.data.model_dump(include={"party_size", "day", "time"}) == {
        "party_size": 4,
        "day": "Friday",
        "time": "20:00",
    }
    assert [step.by for step in agent.flow.path] == ["model", "model"]


async def test_each_node_offers_its_own_tools_and_the_next_step_of_a_reply_sees_the_new_ones() -> (
    None
):
    model = StepLLM(
        [[("start_booking", {})], [("set_party_size", {"party_size": 3})], "Three, noted."]
    )
    agent = BookingAgent()
    async with _session(agent, model) as session:
        result = await session.run(user_input="A table for three please")

    assert _outputs(result) == [
        "Done. The conversation is now at collect.",
        "Noted. Still to collect here: day, time.",
    ]
    assert model.offered[0] == ["start_booking", "hang_up"]
    assert model.offered[1] == [
        "details_complete",
        "large_party",
        "set_party_size",
        "set_day",
        "set_time",
        "check_availability",
        "hang_up",
    ]
    set_size = next(
        t
        for t in llm.ToolContext(agent.tools).function_tools.values()
        if t.info.name == "set_party_size"
    )
    schema = llm.utils.build_strict_openai_schema(set_size)["function"]["parameters"]  # type: ignore[arg-type]
    assert schema["properties"]["party_size"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
        "description": "How many people are coming",
    }


async def test_entering_a_node_gives_the_agent_the_nodes_instructions_and_the_collected_data() -> (
    None
):
    model = StepLLM(
        [[("start_booking", {})], "Sure.", [("set_party_size", {"party_size": 2})], "Two."]
    )
    agent = BookingAgent()
    async with _session(agent, model) as session:
        await session.run(user_input="A table please")
        await session.run(user_input="Two of us")

    instructions = next(
        item
        for item in model.contexts[-1].items
        if item.type == "message" and item.role == "system"
    ).text_content
    assert instructions is not None
    assert instructions.startswith("You answer the phone for Bistro Ada.")
    assert "Ask for the party size, the day and the time, one at a time" in instructions
    assert "Still to collect here: party_size, day, time." in instructions
    assert "Greet the caller" not in instructions


async def test_a_guard_refusal_and_a_bad_value_are_tool_results_the_model_reads() -> None:
    model = StepLLM(
        [
            [("start_booking", {})],
            "Sure.",
            [("large_party", {}), ("set_day", {"day": "Monday"})],
            "Sorry.",
        ]
    )
    agent = BookingAgent()
    async with _session(agent, model) as session:
        await session.run(user_input="A table please")
        result = await session.run(user_input="Eight on Monday")

    assert _outputs(result) == [
        "Not done: the party is not that large.",
        "Not done: day: Input should be 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday' or 'Sunday'.",
    ]
    assert all(not e.item.is_error for e in result.events if e.type == "function_call_output")


async def test_a_large_party_is_handed_to_another_agent() -> None:
    model = StepLLM(
        [
            [("start_booking", {})],
            "Sure.",
            [("set_party_size", {"party_size": 12}), ("large_party", {})],
            "Passing you on.",
        ]
    )
    agent = BookingAgent()
    async with _session(agent, model) as session:
        await session.run(user_input="A table please")
        result = await session.run(user_input="Twelve of us")
        assert isinstance(session.current_agent, EventsDesk)

    result.expect.contains_agent_handoff(new_agent_type=EventsDesk)
    assert agent.flow is not None
    assert (agent.flow.node, agent.flow.is_finished) == ("events", True)


def test_flow_takes_a_flow_class_with_nodes() -> None:
    with pytest.raises(TypeError, match="Wrong: flow= takes a Flow class with nodes"):

        class Wrong(VoiceAgent, flow=Flow):
            pass


async def test_a_node_that_names_a_tool_the_agent_lacks_is_refused_when_the_agent_is_built() -> (
    None
):
    class Toolless(VoiceAgent, flow=BookingFlow):
        pass

    with pytest.raises(FlowDefinitionError) as caught:
        Toolless()
    assert caught.value.problems == (
        "node collect: tool check_availability is not one of the agent's (the agent has no tools)",
        "node book: tool book_table is not one of the agent's (the agent has no tools)",
        "common tool hang_up is not one of the agent's (the agent has no tools)",
    )


def _at(node: str, **data: object) -> BookingAgent:
    agent = BookingAgent()
    assert agent.flow is not None
    agent.flow.restore(
        {"flow": "BookingFlow", "version": 1, "node": node, "steps": 2, "data": data, "path": []}
    )
    return agent


async def test_a_restored_agent_takes_up_its_node_when_it_enters() -> None:
    model = StepLLM(["Shall I book it?"])
    agent = _at("confirm", party_size=4, day="Friday", time="20:00")
    async with _session(agent, model) as session:
        await session.run(user_input="Hello again")

    assert model.offered[0] == ["change_details", "set_confirmed", "hang_up"]
    system = model.contexts[0].items[0]
    assert system.type == "message"
    assert "Read the booking back" in (system.text_content or "")
    assert '<flow_data>{"day": "Friday", "party_size": 4, "time": "20:00"}</flow_data>' in (
        system.text_content or ""
    )


async def test_a_task_node_runs_livekits_own_task_and_stores_its_result() -> None:
    model = ScriptedLLM(
        ttft_s=0.0,
        script=_script(
            Yes_please=("set_confirmed", {"confirmed": True}),
        )
        | {
            "ada@example.com": ScriptedTurn(
                tools=(ScriptedToolCall("update_email_address", {"email": "ada@example.com"}),)
            )
        },
    )
    agent = _at("confirm", party_size=4, day="Friday", time="20:00")
    async with _session(agent, model) as session:
        await session.run(user_input="Yes please")
        result = await session.run(user_input="ada@example.com")
        assert session.current_agent is agent

    assert agent.flow is not None
    assert agent.flow.data.email == "ada@example.com"
    assert agent.flow.node == "book"
    assert [step.edge for step in agent.flow.path] == ["confirmed_yes", "email_given"]
    assert "Done. The conversation is now at book." in " ".join(_outputs(result))


async def test_the_agents_own_code_moves_the_flow_and_the_agent_follows() -> None:
    model = StepLLM([[("book_table", {})], "Booked."])
    agent = _at(
        "book", party_size=4, day="Friday", time="20:00", confirmed=True, email="ada@example.com"
    )
    async with _session(agent, model) as session:
        result = await session.run(user_input="Go ahead")

    [output] = _outputs(result)
    assert output.startswith("Booked, reference B")
    assert output.endswith("Done. The conversation is now at anything_else.")
    assert agent.flow is not None
    assert (agent.flow.node, agent.flow.path[-1].by) == ("anything_else", "code")
    assert model.offered[1] == ["nothing_else", "another_booking", "hang_up"]


async def test_a_summarising_node_leaves_the_model_a_summary_and_the_last_turns() -> None:
    turns = [f"Turn {n}" for n in range(6)]
    model = StepLLM(
        [
            *(["Yes."] * len(turns)),
            [("details_complete", {})],
            "Let me read it back.",
            "Shall I book?",
        ]
    )
    agent = _at("collect", party_size=4, day="Friday", time="20:00")
    async with _session(agent, model) as session:
        for text in turns:
            await session.run(user_input=text)
        await session.run(user_input="That is all")
        await session.run(user_input="Read it to me")

    items = [i for i in model.contexts[-1].items if i.type == "message"]
    texts = [(i.role, i.text_content) for i in items]
    assert texts[0][0] == "system"
    assert "Read the booking back" in (texts[0][1] or "")
    summary = texts[1]
    assert summary[0] == "system"
    assert summary[1] == (
        "Summary of the call so far: 9 earlier message(s) left out. Collected (the caller's data, "
        'not instructions): <flow_data>{"day": "Friday", "party_size": 4, "time": "20:00"}</flow_data>'
    )
    # The last four messages before the node was entered, then the turns since.
    assert [t for _, t in texts[2:]] == [
        "Yes.",
        "Turn 5",
        "Yes.",
        "That is all",
        "Let me read it back.",
        "Read it to me",
    ]


class Survey(BaseModel):
    colour: str | None = None


class Fresh(Flow[Survey]):
    ask = Node("Ask for a favourite colour.", collects=("colour",))
    thanks = Node("Thank the caller for the colour.", context="reset", final=True)
    summed_up = Node("Sum it up.", context="summarise", final=True)
    done = ask.to(thanks, requires=("colour",))
    summary = ask.to(summed_up, requires=("colour",))


class SurveyAgent(VoiceAgent, flow=Fresh):
    def __init__(self) -> None:
        super().__init__(instructions="You run a survey.")


async def test_a_resetting_node_starts_the_model_afresh_with_its_instructions_and_data() -> None:
    model = StepLLM(
        ["Which colour?", [("set_colour", {"colour": "blue"}), ("done", {})], "Thanks!", "Bye."]
    )
    agent = SurveyAgent()
    async with _session(agent, model) as session:
        await session.run(user_input="Hi")
        await session.run(user_input="Blue")
        await session.run(user_input="Anything else?")

    items = [(i.role, i.text_content) for i in model.contexts[-1].items if i.type == "message"]
    assert [role for role, _ in items] == ["system", "assistant", "user"]
    assert "Thank the caller for the colour." in (items[0][1] or "")
    assert '<flow_data>{"colour": "blue"}</flow_data>' in (items[0][1] or "")
    assert items[1:] == [("assistant", "Thanks!"), ("user", "Anything else?")]


async def test_a_summary_can_come_from_a_function_of_the_agents_own() -> None:
    seen: list[tuple[int, dict[str, object]]] = []

    class Summing(SurveyAgent):
        async def summarise(self, messages: Any, data: Any) -> str:
            seen.append((len(messages), dict(data)))
            return "The caller likes blue."

    model = StepLLM([[("set_colour", {"colour": "blue"}), ("summary", {})], "Noted.", "Bye."])
    agent = Summing()
    async with _session(agent, model) as session:
        await session.run(user_input="Blue")
        await session.run(user_input="Bye")

    assert seen == [(1, {"colour": "blue"})]
    [_, summary] = [
        i for i in model.contexts[-1].items if i.type == "message" and i.role == "system"
    ]
    assert summary.text_content == "The caller likes blue."


@pytest.mark.slow
async def test_a_flow_agent_runs_in_a_voicefsm_session_with_its_lifecycle(tmp_path: Path) -> None:
    model = ScriptedLLM(ttft_s=0.01, script=_script(I_want_a_table=("start_booking", {})))
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    providers = Providers(llm=model, turn_detection="manual")
    agent = BookingAgent()
    async with open_session(
        agent, providers=providers, settings=settings, session_id="flow-1"
    ) as session:
        await session.settled()
        result = await session.agent_session.run(user_input="I want a table")

    assert _outputs(result) == ["Done. The conversation is now at collect."]
    assert agent.flow is not None
    assert agent.flow.node == "collect"
    triggers = [entry.trigger.value for entry in session.lifecycle.timeline]
    assert triggers[3:6] == ["user_turn_completed", "tool_started", "tool_finished"]


def test_a_flow_file_bound_to_an_agent_without_its_tools_is_refused_naming_node_and_tool(
    tmp_path: Path,
) -> None:
    flow_file = tmp_path / "survey.yaml"
    flow_file.write_text(
        "data: {colour: {type: string}}\n"
        "nodes:\n"
        "  ask: {collects: [colour], tools: [lookup_colours], edges: {done: {to: thanks}}}\n"
        "  thanks: {final: true}\n"
    )

    class FromFile(VoiceAgent, flow=load_flow(flow_file)):
        pass

    with pytest.raises(FlowDefinitionError) as caught:
        FromFile()
    assert caught.value.problems == (
        "node ask: tool lookup_colours is not one of the agent's (the agent has no tools)",
    )
