"""Code-first multi-agent calls are a flow too: a tool returning another agent is an edge of the
agents' graph (learnt from its return annotation), and the handoff is a node change of that
graph's flow, recorded on the node timeline and in the summary like any flow's."""

from __future__ import annotations

from pathlib import Path

from livekit.agents import RunContext, function_tool

from tests.agent.test_flow_agent import _at
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn


class Billing(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer billing questions.")


class FrontDesk(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer the phone and pass billing on.")

    @function_tool
    async def to_billing(self, context: RunContext[None]) -> tuple[Billing, str]:
        """Hand the caller to billing."""
        return Billing(), "Passing you to billing."


async def test_a_handoff_is_a_node_change_of_the_agents_flow(tmp_path: Path) -> None:
    model = ScriptedLLM(
        ttft_s=0.0,
        script={"I have a billing question": ScriptedTurn(tools=(ScriptedToolCall("to_billing"),))},
    )
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    async with open_session(
        FrontDesk(),
        providers=Providers(llm=model, turn_detection="manual"),
        settings=settings,
        session_id="handoff-1",
    ) as session:
        await session.settled()
        await session.agent_session.run(user_input="I have a billing question")
        assert isinstance(session.agent, Billing)
        summaries = {summary.flow: summary for summary in session.flows.summaries()}

    [entry] = session.flows.entries
    change = entry.change
    assert (change.flow, change.edge, change.source, change.dest, change.by) == (
        "FrontDeskAgents",
        "to_billing",
        "FrontDesk",
        "Billing",
        "code",
    )
    assert entry.turn == 1
    agents = summaries["FrontDeskAgents"]
    assert agents.node == "Billing"
    assert [(n.from_node, n.to_node) for n in agents.nodes] == [("FrontDesk", "Billing")]
    # The handoff is on the lifecycle's timeline too, as it was before.
    assert "handed_off" in [e.trigger.value for e in session.lifecycle.timeline]


async def test_a_single_agent_has_no_agents_flow(tmp_path: Path) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    async with open_session(
        Billing(),
        providers=Providers(llm=ScriptedLLM(ttft_s=0.0), turn_detection="manual"),
        settings=settings,
        session_id="single-1",
    ) as session:
        await session.settled()
    assert session.flows.runs == {}
    assert session.flows.summaries() == []


async def test_an_agent_task_is_a_node_change_there_and_back(tmp_path: Path) -> None:
    """A flow node awaiting livekit's ``GetEmailTask``: the task takes the call and gives it
    back, two node changes of the agents' flow, beside the booking flow's own."""
    model = ScriptedLLM(
        ttft_s=0.0,
        script={
            "Yes please": ScriptedTurn(
                tools=(ScriptedToolCall("set_confirmed", {"confirmed": True}),)
            ),
            "ada@example.com": ScriptedTurn(
                tools=(ScriptedToolCall("update_email_address", {"email": "ada@example.com"}),)
            ),
        },
    )
    agent = _at("confirm", party_size=4, day="Friday", time="20:00")
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    async with open_session(
        agent,
        providers=Providers(llm=model, turn_detection="manual"),
        settings=settings,
        session_id="task-1",
    ) as session:
        await session.settled()
        await session.agent_session.run(user_input="Yes please")
        await session.agent_session.run(user_input="ada@example.com")

    agents = [e.change for e in session.flows.entries if e.change.flow == "BookingAgentAgents"]
    assert [(c.edge, c.source, c.dest) for c in agents] == [
        ("flow_email", "BookingAgent", "GetEmailTask"),
        ("flow_email_done", "GetEmailTask", "BookingAgent"),
    ]
    booking = [e.change.edge for e in session.flows.entries if e.change.flow == "BookingFlow"]
    assert booking == ["confirmed_yes", "email_given"]
