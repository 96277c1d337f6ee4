"""Typed shared state (livekit's ``userdata``): made per call from the agent's factory, read as
``RunContext[T].userdata`` by every agent of the call and as ``hook.userdata`` by hooks, kept in
the session summary; handoff targets need no constructor arguments, so each can be drawn on
its own."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool

from trials.support import Backend
from voicefsm import Providers, build_server, load_settings, open_session
from voicefsm.agent import HookContext, VoiceAgent, entering
from voicefsm.diagrams.agent_shape import agent_shape
from voicefsm.examples.bistro import BistroAgent, Reservations
from voicefsm.lifecycle import HangUp, Joined, Resumed, State, UserTurnCompleted
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn
from voicefsm.testing import AgentHarness


@dataclass
class Order:
    pizzas: list[str] = field(default_factory=list)
    paid: bool = False


class Payments(VoiceAgent):
    """A handoff target: it reads the order from the shared state, not from its constructor."""

    def __init__(self) -> None:
        super().__init__(instructions="You take payment.")

    @function_tool
    async def take_payment(self, context: RunContext[Order]) -> str:
        """Take payment for the order."""
        context.userdata.paid = True
        return f"Paid for {len(context.userdata.pizzas)} pizzas."


class PizzaLine(VoiceAgent, userdata=Order):
    def __init__(self) -> None:
        super().__init__(instructions="You take pizza orders.", greeting="Pizza line!")

    @function_tool
    async def add_pizza(self, context: RunContext[Order], name: str) -> str:
        """Add a pizza to the order."""
        context.userdata.pizzas.append(name)
        return f"Added a {name}."

    @function_tool
    async def to_payments(self, context: RunContext[Order]) -> Payments:
        """Hand the caller to payments."""
        return Payments()

    @entering(State.PERSISTING)
    def file_order(self, hook: HookContext) -> None:
        order: Order = hook.userdata
        hook.write_event("order", {"pizzas": order.pizzas, "paid": order.paid})


SCRIPT = {
    "A margherita please": ScriptedTurn(
        tools=(ScriptedToolCall("add_pizza", {"name": "margherita"}),)
    ),
    "I want to pay": ScriptedTurn(tools=(ScriptedToolCall("to_payments"),)),
    "Here is my card": ScriptedTurn(tools=(ScriptedToolCall("take_payment"),)),
}


@pytest.mark.slow
async def test_every_agent_of_a_call_and_its_hooks_share_one_typed_state_kept_in_the_summary(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    providers = Providers(llm=ScriptedLLM(ttft_s=0.01, script=SCRIPT), turn_detection="manual")
    async with open_session(
        PizzaLine(), providers=providers, settings=settings, session_id="shared-1"
    ) as session:
        await session.settled()
        for line in SCRIPT:
            await session.agent_session.run(user_input=line)
        order = session.agent_session.userdata

    assert order == Order(pizzas=["margherita"], paid=True)  # payments saw the line's order
    assert isinstance(session.agent, Payments)
    [filed] = [e["data"] for e in backend.events("app")]
    assert filed == {"pizzas": ["margherita"], "paid": True}  # the hook read it too
    with sqlite3.connect(backend.database) as db:
        [(summary,)] = list(db.execute("SELECT summary FROM sessions"))
    assert json.loads(summary)["userdata"] == {"pizzas": ["margherita"], "paid": True}


async def test_each_call_gets_a_fresh_state_and_build_server_may_give_the_factory() -> None:
    harness = AgentHarness(PizzaLine())
    harness.userdata.pizzas.append("diavola")
    harness.walk(Joined(), Resumed(), UserTurnCompleted("Bye"), HangUp())
    assert harness.writes == [("order", {"pizzas": ["diavola"], "paid": False})]
    assert AgentHarness(PizzaLine()).userdata == Order()  # not shared between calls

    server = build_server(Payments, userdata=Reservations)
    made = server.agent()
    assert isinstance(made, Payments)
    assert isinstance(AgentHarness(made).userdata, Reservations)
    assert AgentHarness(BistroAgent()).userdata == Reservations()  # the example declares one


def test_a_handoff_target_reading_the_shared_state_can_be_drawn_on_its_own() -> None:
    shape = agent_shape(Payments())
    assert (shape.name, shape.tools) == ("Payments", ("take_payment",))
