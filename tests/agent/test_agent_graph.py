"""Multi-agent calls written the LiveKit way are a graph voicefsm learns from the agents'
declarations and tools; what it cannot resolve is reported, never guessed."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentTask, RunContext, function_tool

from voicefsm.agent import VoiceAgent, agent_graph, leads_to
from voicefsm.examples.booking import BookingAgent
from voicefsm.flows import AgentLink, StepRefusal
from voicefsm.testing import FlowHarness


class Billing(VoiceAgent):
    @function_tool
    async def refund(self, context: RunContext[None], amount: float) -> str:
        """Refund an amount."""
        return "Refunded."


class Survey(AgentTask[str]):
    def __init__(self) -> None:
        super().__init__(instructions="Ask for a favourite colour.")


class Greeter(AgentTask[str]):
    def __init__(self) -> None:
        super().__init__(instructions="Greet.")


@leads_to(Greeter)
class Reception(VoiceAgent):
    @function_tool
    async def to_billing(self, context: RunContext[None]) -> tuple[Billing, str]:
        """Hand the caller to billing."""
        return Billing(), "Passing you to billing."

    @function_tool
    @leads_to(Survey)
    async def start_survey(self, context: RunContext[None]) -> str:
        """Run the survey."""
        return f"Noted {await Survey()}."

    @function_tool
    async def to_sales(self, context: RunContext[None]) -> Sales | None:
        """Hand the caller to sales, if they are open."""
        return Sales()

    @function_tool
    async def transfer(self, context: RunContext[None]) -> Agent:
        """Transfer somewhere."""
        return Billing()

    @function_tool
    async def chat(self, context: RunContext[None]):  # type: ignore[no-untyped-def]
        """Chat."""
        return "Hello."


class Sales(VoiceAgent):
    @function_tool
    async def back_to_reception(self, context: RunContext[None]) -> Reception:
        """Back to reception."""
        return Reception()


def test_links_come_from_return_annotations_and_declarations() -> None:
    graph = agent_graph(Reception)
    assert graph.root == "Reception"
    # Breadth first, each agent's tools in livekit's order (by name).
    assert graph.agents == ("Reception", "Greeter", "Survey", "Billing", "Sales")
    assert set(graph.links) == {
        AgentLink("Reception", "Greeter", None, "task"),
        AgentLink("Reception", "Survey", "start_survey", "task"),
        AgentLink("Reception", "Sales", "to_sales", "handoff"),
        AgentLink("Reception", "Billing", "to_billing", "handoff"),
        AgentLink("Sales", "Reception", "back_to_reception", "handoff"),
    }
    assert graph.tools["Billing"] == ("refund",)


def test_what_cannot_be_resolved_is_reported_by_agent_and_tool() -> None:
    assert agent_graph(Reception).unresolved == (
        "Reception.chat: no return annotation (it may hand off: annotate it, or @leads_to)",
        "Reception.transfer: returns Agent, not which one: declare @leads_to",
    )


def test_leads_to_takes_only_agent_classes() -> None:
    with pytest.raises(TypeError, match="leads_to takes livekit Agent or AgentTask classes"):
        leads_to("Billing")  # type: ignore[arg-type]


def test_a_flow_agents_handoffs_and_tasks_are_links_and_livekits_own_tasks_are_ends() -> None:
    graph = agent_graph(BookingAgent)
    assert graph.agents == ("BookingAgent", "GetEmailTask", "EventsDesk")
    assert set(graph.links) == {
        AgentLink("BookingAgent", "GetEmailTask", "flow:email", "task"),
        AgentLink("BookingAgent", "EventsDesk", "flow:events", "handoff"),
    }
    assert graph.unresolved == ()
    assert "GetEmailTask" not in graph.tools


def test_the_graph_is_a_flow_the_engine_can_follow() -> None:
    graph = agent_graph(Reception)
    flow = graph.to_flow()
    definition = flow.definition
    assert definition.initial == "Reception"
    assert {node.name: node.final for node in definition.nodes} == {
        "Reception": False,
        "Greeter": False,
        "Survey": False,
        "Sales": False,
        "Billing": True,
    }
    harness = FlowHarness(flow)
    assert harness.tools == []  # taken by the engine as handoffs happen, not by the model
    for source, target in [
        ("Reception", "Survey"),
        ("Survey", "Reception"),
        ("Reception", "Sales"),
    ]:
        edge = graph.edge_between(source, target)
        assert edge is not None
        assert harness.take(edge).node == target
    assert harness.path == ["start_survey", "start_survey_done", "to_sales"]
    assert graph.edge_between("Billing", "Sales") is None
    assert harness.take("to_billing").refusal is StepRefusal.ILLEGAL
