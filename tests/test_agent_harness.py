"""``AgentHarness``: an agent's hooks on the transitions a test fires, picked as a session picks
them, with what they wrote kept for the test to read."""

from __future__ import annotations

import asyncio
import threading
from types import MappingProxyType

import pytest

from voicefsm.agent import VoiceAgent, entering, leaving, on_transition
from voicefsm.agent.hooks import HookContext
from voicefsm.lifecycle import (
    HangUp,
    Joined,
    ReplyFinished,
    ReplyStarted,
    Resumed,
    State,
    ToolStarted,
    Trigger,
    UserTurnCompleted,
)
from voicefsm.testing import AgentHarness, HookRun


class Watcher(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="test")
        self.seen: list[str] = []

    @leaving(State.LISTENING)
    def leaving_listening(self, hook: HookContext) -> None:
        self.seen.append(f"exit listening ({hook.entry.trigger.value})")

    @on_transition(Trigger.USER_TURN_COMPLETED)
    def on_turn(self, hook: HookContext) -> None:
        self.seen.append(f"turn {hook.entry.turn}: {hook.history[-1].text}")

    @entering(State.THINKING)
    async def entering_thinking(self, hook: HookContext) -> None:
        self.seen.append("enter thinking")

    @entering(State.PERSISTING)
    def summary(self, hook: HookContext) -> None:
        hook.write_event("summary", {"turns": hook.entry.turn, "said": len(hook.history)})


def test_hooks_run_in_exit_transition_enter_order_and_not_on_internal_transitions() -> None:
    agent = Watcher()
    harness = AgentHarness(agent)
    harness.walk(Joined(), Resumed(), UserTurnCompleted("Hello"), ToolStarted("lookup"))

    assert agent.seen == [
        "exit listening (user_turn_completed)",
        "turn 1: Hello",
        "enter thinking",
    ]  # thinking --tool_started--> thinking neither left nor entered it


def test_hook_writes_are_kept_and_checked_against_the_contract() -> None:
    harness = AgentHarness(Watcher())
    harness.walk(
        Joined(),
        Resumed(),
        UserTurnCompleted("Hi"),
        ReplyStarted(1),
        ReplyFinished(1, "Hey"),
        HangUp(),
    )
    assert harness.writes == [("summary", {"turns": 1, "said": 2})]
    assert HookRun("summary", "ok") in harness.runs


class Careless(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="test")

    @entering(State.LOADING_CONTEXT)
    def bad_data(self, hook: HookContext) -> None:
        hook.write_event("measurement", {"value": float("nan")})

    @entering(State.LISTENING)
    def bad_code(self, hook: HookContext) -> None:
        raise KeyError("missing")


def test_a_failing_hook_is_reported_and_writes_nothing() -> None:
    harness = AgentHarness(Careless())
    harness.walk(Joined(), Resumed())
    assert harness.runs == [HookRun("bad_data", "failed"), HookRun("bad_code", "failed")]
    assert harness.writes == []


def test_hooks_that_could_never_run_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="every session starts in joining"):
        entering(State.JOINING)
    with pytest.raises(ValueError, match="exiting is terminal"):
        leaving(State.EXITING)


class Slow(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="test")

    @entering(State.LISTENING)
    async def hangs(self, hook: HookContext) -> None:
        await asyncio.Event().wait()  # never set

    @entering(State.PERSISTING)
    async def writes(self, hook: HookContext) -> None:
        await asyncio.sleep(0)
        hook.write_event("closed", {"turns": hook.entry.turn})


async def test_async_hooks_run_to_their_end_from_an_async_test_too() -> None:
    """An async test already has a running loop: the hooks still run, and their writes stay."""
    harness = AgentHarness(Slow(), hook_deadline_s=0.2)
    harness.walk(Joined(), Resumed(), HangUp())

    assert harness.runs == [HookRun("hangs", "timeout"), HookRun("writes", "ok")]
    assert harness.writes == [("closed", {"turns": 0})]


def test_a_sync_hook_that_never_returns_is_a_timeout_not_a_hung_test() -> None:
    class Stuck(VoiceAgent):
        def __init__(self) -> None:
            super().__init__(instructions="test")

        @entering(State.LISTENING)
        def blocks(self, hook: HookContext) -> None:
            threading.Event().wait()

    harness = AgentHarness(Stuck(), hook_deadline_s=0.2)
    harness.walk(Joined(), Resumed())
    assert harness.runs == [HookRun("blocks", "timeout")]


class WritesMappings(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="test")

    @entering(State.LISTENING)
    def note(self, hook: HookContext) -> None:
        data: dict[str, object] = {"turn": hook.entry.turn, "tags": ("new", "caller")}
        hook.write_event("note", data)
        hook.write_event("frozen", MappingProxyType({"nested": MappingProxyType({"ok": True})}))


def test_write_event_takes_any_json_shaped_mapping() -> None:
    harness = AgentHarness(WritesMappings())
    harness.walk(Joined(), Resumed())
    assert harness.writes == [
        ("note", {"turn": 0, "tags": ["new", "caller"]}),
        ("frozen", {"nested": {"ok": True}}),
    ]
    assert harness.runs == [HookRun("note", "ok")]
