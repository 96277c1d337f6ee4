"""Which hooks run, held to one rule in the runtime, ``AgentHarness`` and the diagrams: the
hooks of the agent a call starts with are the session's and outlive a handoff; the hooks of an
agent handed the call run while it is in charge."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool

from trials.live_session import live_session
from trials.support import Backend
from voicefsm.agent import HookContext, VoiceAgent, entering
from voicefsm.diagrams.agent_shape import agent_shape
from voicefsm.diagrams.model import HookMark
from voicefsm.lifecycle import (
    HangUp,
    Joined,
    ReplyFinished,
    ReplyStarted,
    Resumed,
    State,
    ToolStarted,
    UserTurnCompleted,
)
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn
from voicefsm.testing import AgentHarness

pytestmark = pytest.mark.slow


class Billing(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer billing questions.")

    @entering(State.THINKING)
    def billing_turn(self, hook: HookContext) -> None:
        hook.write_event("billing_turn", {"turn": hook.entry.turn})


class Reception(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You route callers.")

    @entering(State.THINKING)
    def reception_turn(self, hook: HookContext) -> None:
        hook.write_event("reception_turn", {"turn": hook.entry.turn})

    @entering(State.PERSISTING)
    def file_the_call(self, hook: HookContext) -> None:
        hook.write_event("call_filed", {"turns": hook.entry.turn})

    @function_tool
    async def transfer_to_billing(self, context: RunContext[None]) -> Billing:
        """Hand the caller to billing."""
        return Billing()


#: Each agent's hook writes on a call of three turns handed to billing during the first.
EXPECTED = [
    ("reception_turn", {"turn": 1}),
    ("reception_turn", {"turn": 2}),  # the session's hooks outlive the handoff...
    ("billing_turn", {"turn": 2}),  # ... and billing's run while it is in charge
    ("reception_turn", {"turn": 3}),
    ("billing_turn", {"turn": 3}),
    ("call_filed", {"turns": 3}),  # filed, though billing ended the call
]


async def test_the_runtime_the_harness_and_the_diagram_follow_one_rule(
    tmp_path: Path, backend: Backend
) -> None:
    async with live_session(tmp_path, backend_url=backend.url, agent=Reception()) as live:
        live.llm.script["A question on my bill"] = ScriptedTurn(
            tools=(ScriptedToolCall("transfer_to_billing"),)
        )
        await live.converse(
            [
                Turn(user="A question on my bill"),
                Turn(user="Why is it so high"),
                Turn(user="Thank you"),
            ]
        )
    # Hooks run concurrently in a session: the order they finish in is theirs.
    ran = [(e["name"], e["data"]) for e in backend.events("app")]
    assert sorted(ran, key=repr) == sorted(EXPECTED, key=repr)

    harness = AgentHarness(Reception())
    harness.walk(Joined(), Resumed(), UserTurnCompleted("A question on my bill"))
    harness.walk(ToolStarted("transfer_to_billing"))
    harness.hand_off(Billing())
    harness.walk(ReplyStarted(1), ReplyFinished(1, ""))
    harness.walk(UserTurnCompleted("Why is it so high"), ReplyStarted(2), ReplyFinished(2, "."))
    harness.walk(UserTurnCompleted("Thank you"), HangUp())
    assert harness.writes == EXPECTED

    # The diagram of the agent the call starts with draws its hooks on the whole lifecycle,
    # and a handoff target drawn on its own draws its hooks for while it is in charge.
    assert set(agent_shape(Reception()).hooks) >= {
        HookMark("file_the_call", "enter", "persisting"),
        HookMark("reception_turn", "enter", "thinking"),
    }
    assert agent_shape(Billing()).hooks == (HookMark("billing_turn", "enter", "thinking"),)


class SpeakingReception(Reception):
    @entering(State.THINKING)
    def reassure(self, hook: HookContext) -> None:
        if hook.entry.turn == 2:  # billing is in charge by then
            self.session.say("Reception is still with you.")


async def test_the_first_agents_hook_speaks_through_its_session_after_the_handoff(
    tmp_path: Path, backend: Backend
) -> None:
    """Its hooks run for the whole call, so ``self.session`` must too: livekit's own raises
    for an agent that is not in charge ("no activity context found")."""
    async with live_session(tmp_path, backend_url=backend.url, agent=SpeakingReception()) as live:
        live.llm.script["A question on my bill"] = ScriptedTurn(
            tools=(ScriptedToolCall("transfer_to_billing"),)
        )
        await live.converse(
            [
                Turn(user="A question on my bill"),
                Turn(user="Why is it so high"),
                Turn(user="Thank you"),
            ]
        )
        said = [item.text for item in live.session.record.history]
    assert "Reception is still with you." in said
