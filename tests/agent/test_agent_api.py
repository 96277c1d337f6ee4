"""Your own agent on a real AgentSession: ending the call itself, hooks that misbehave, and
handing over to another agent, all inside one lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool
from pydantic import SecretStr

from trials.live_session import live_session
from trials.stubs.livekit_rooms import API_KEY, API_SECRET, room_service_stub
from trials.support import Backend
from voicefsm.agent import VoiceAgent, entering, leaving, on_transition
from voicefsm.agent.hooks import HookContext
from voicefsm.examples.bistro import BistroAgent
from voicefsm.lifecycle import EndReason, State, Trigger
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn
from voicefsm.worker.room_service import LiveKitRoom

pytestmark = pytest.mark.slow

BYE = ScriptedTurn(tools=(ScriptedToolCall("hang_up"),), preamble="My pleasure.")


def _summary(backend: Backend, session_id: str) -> dict[str, object]:
    with sqlite3.connect(backend.database) as db:
        (summary,) = db.execute(
            "SELECT summary FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
    return json.loads(summary)  # type: ignore[no-any-return]


async def test_end_call_from_a_tool_says_goodbye_persists_and_hangs_up_the_room(
    tmp_path: Path, backend: Backend
) -> None:
    with room_service_stub() as stub:
        credentials = (stub.url, SecretStr(API_KEY), SecretStr(API_SECRET))
        room = LiveKitRoom("bistro-line-7", credentials, log=logging.getLogger("test"))
        async with live_session(
            tmp_path, backend_url=backend.url, agent=BistroAgent(), room_control=room
        ) as live:
            live.llm.script["That is all thanks"] = BYE
            await live.converse([Turn(user="That is all thanks")], end="agent")
            session = live.session

    assert session.lifecycle.end_reason is EndReason.END_CALL
    trail = [(e.source.value, e.trigger.value, e.dest.value) for e in session.lifecycle.timeline]
    assert trail[-3:] == [
        ("listening", "end_call", "persisting"),  # after the reply with the tool was heard
        ("persisting", "spoke", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    history = [(m.role.value, m.text) for m in session.record.history]
    assert history[-2:] == [
        ("assistant", "My pleasure."),
        ("assistant", "Thank you for calling Bistro Ada. Goodbye!"),
    ]
    summary = _summary(backend, session.session_id)
    assert summary["end_reason"] == "end_call"
    assert [m["text"] for m in summary["messages"]][-1] == history[-1][1]  # type: ignore[index]
    assert stub.deleted == ["bistro-line-7"]  # the caller is really hung up


async def test_without_credentials_the_room_stays_and_that_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_session(tmp_path, agent=BistroAgent()) as live:
        live.llm.script["Bye now"] = BYE
        with caplog.at_level(logging.INFO, logger="voicefsm.agent"):
            await live.converse([Turn(user="Bye now")], end="agent")
    assert live.session.lifecycle.end_reason is EndReason.END_CALL
    assert "no room to hang up (no LiveKit credentials)" in caplog.text


class MisbehavingAgent(VoiceAgent):
    """Hooks that raise, hang forever (sync and async), and one that does its job."""

    def __init__(self) -> None:
        super().__init__(instructions="test")
        self.entered_thinking = 0

    @entering(State.LISTENING)
    def explode(self, hook: HookContext) -> None:
        msg = "a bug in the application, with a secret: sk-live-0000"
        raise RuntimeError(msg)

    @leaving(State.GREETING)
    def hang_in_a_thread(self, hook: HookContext) -> None:
        time.sleep(3600)  # never returns: the session must not wait for it

    @on_transition(Trigger.USER_TURN_COMPLETED)
    async def hang_in_the_loop(self, hook: HookContext) -> None:
        await asyncio.Event().wait()

    @entering(State.THINKING)
    async def count(self, hook: HookContext) -> None:
        self.entered_thinking += 1

    @entering(State.PERSISTING)
    async def file(self, hook: HookContext) -> None:
        await asyncio.sleep(0.1)
        hook.write_event("filed", {"turns": hook.entry.turn, "state": hook.state.value})


async def test_hooks_that_raise_or_hang_leave_the_call_working_and_are_counted(
    tmp_path: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    agent = MisbehavingAgent()
    settings = {"hook_deadline_s": 0.5}
    with caplog.at_level(logging.WARNING, logger="voicefsm.agent"):
        async with live_session(
            tmp_path, backend_url=backend.url, agent=agent, settings=settings
        ) as live:
            await live.converse([Turn(user="First question"), Turn(user="Second question")])
            session = live.session

    assert session.lifecycle.state is State.EXITING
    assert agent.entered_thinking == 2  # the hooks that work kept working
    hooks = session.record.counters.hooks
    assert hooks["failed"] >= 2  # explode ran on each entry into listening
    assert hooks["timeout"] >= 3  # the thread hook once, the loop hook per turn
    assert "agent code raised; contained, the call goes on" in caplog.text
    assert "agent code ran past its deadline; abandoned" in caplog.text
    assert "sk-live-0000" not in caplog.text  # a hook's message never reaches the log
    assert [e["data"] for e in backend.events("app")] == [{"turns": 2, "state": "persisting"}]
    users = [
        m["text"] for m in _summary(backend, session.session_id)["messages"] if m["role"] == "user"
    ]  # type: ignore[index, union-attr]
    assert users == ["First question", "Second question"]  # everything persisted


class Billing(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(
            instructions="You answer billing questions.",
            farewell="Billing says goodbye.",
            apology="Billing could not answer that.",
        )

    @entering(State.THINKING)
    def billing_turn(self, hook: HookContext) -> None:
        hook.write_event("billing_turn", {"turn": hook.entry.turn})


class FrontDesk(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You route callers.")

    @function_tool
    async def transfer_to_billing(self, context: RunContext[None]) -> tuple[VoiceAgent, str]:
        """Hand the caller to billing."""
        return Billing(), "Transferring you to billing."


async def test_a_handoff_keeps_one_lifecycle_history_and_record(
    tmp_path: Path, backend: Backend
) -> None:
    async with live_session(tmp_path, backend_url=backend.url, agent=FrontDesk()) as live:
        live.llm.script["I have a billing question"] = ScriptedTurn(
            tools=(ScriptedToolCall("transfer_to_billing"),)
        )
        await live.converse(
            [
                Turn(user="I have a billing question"),
                Turn(user="Read me every line of my last three bills"),
                # The caller cuts billing's answer short, then billing fails twice: its apology.
                Turn(user="Why was I charged twice", interrupt_after_ms=400, llm_fail=2),
                Turn(user="Thanks"),
            ]
        )
        session = live.session

    assert isinstance(session.agent, Billing)
    trail = [
        (e.source.value, e.trigger.value, e.dest.value, e.detail)
        for e in session.lifecycle.timeline
    ]
    [handoff] = [step for step in trail if step[1] == "handed_off"]
    assert handoff[3] == "front_desk -> billing"
    after = trail[trail.index(handoff) :]
    assert ("speaking", "interrupted", "listening", None) in after  # barge-in still works
    interrupted = [m for m in session.record.history if m.interrupted and m.turn == 2]
    assert [m.role.value for m in interrupted] == ["assistant"]
    assert trail[-1][:3] == ("persisting", "persisted", "exiting")
    said = [(m.role.value, m.text) for m in session.record.history]
    assert ("assistant", "Billing could not answer that.") in said  # the new agent's apology
    assert said[-1] == ("assistant", "Billing says goodbye.")  # ... and its farewell
    assert [u for r, u in said if r == "user"] == [
        "I have a billing question",
        "Read me every line of my last three bills",
        "Why was I charged twice",
        "Thanks",
    ]
    [stored] = backend.events("handoff")
    assert (stored["from_agent"], stored["to_agent"]) == ("front_desk", "billing")
    assert [e["data"]["turn"] for e in backend.events("app")] == [2, 3, 4]  # billing's hook
