"""HookRunner: the agent's hooks run off the voice path on each transition, each under its
deadline; whatever a hook does is contained, logged with a static message and counted."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from tests.engine.fakes import LOG, FakeOutbox, lifecycle, session_writes
from voicefsm.agent.hooks import HookContext, entering, hooks_in_charge, leaving, on_transition
from voicefsm.context import ParticipantMetadata
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.hook_runner import HookRunner
from voicefsm.engine.participants import CallerContext
from voicefsm.lifecycle import (
    HangUp,
    Joined,
    Resumed,
    State,
    ToolStarted,
    Trigger,
    UserTurnCompleted,
)


class Agent:
    """Hooks as an agent declares them (any object: hooks are found on its class)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, HookContext]] = []
        self.release = threading.Event()

    @leaving(State.LISTENING)
    def leaving(self, hook: HookContext) -> None:
        self.seen.append(("exit listening", hook))

    @on_transition(Trigger.USER_TURN_COMPLETED)
    async def turn(self, hook: HookContext) -> None:
        self.seen.append(("user_turn_completed", hook))

    @entering(State.THINKING)
    def thinking(self, hook: HookContext) -> None:
        self.seen.append(("enter thinking", hook))
        hook.write_event("thinking", {"turn": hook.entry.turn})


class Misbehaving:
    @entering(State.LISTENING)
    def explode(self, hook: HookContext) -> None:
        msg = "sk-live-0000 leaked in a message"
        raise RuntimeError(msg)

    @entering(State.LISTENING)
    async def hang(self, hook: HookContext) -> None:
        await asyncio.sleep(30)

    @entering(State.LISTENING)
    def block(self, hook: HookContext) -> None:
        time.sleep(0.5)  # a sync hook that outlives its deadline, on its own thread


async def _runner(agent: object, deadline_s: float = 1.0):  # type: ignore[no-untyped-def]
    machine, _ = lifecycle()
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    caller = CallerContext(ParticipantMetadata(display_name="Ada"), CallTasks(LOG))
    runner = HookRunner(machine, writes=writes, caller=caller, deadline_s=deadline_s, log=LOG)
    runner.use(agent)
    return machine, outbox, writes, runner


async def test_the_due_hooks_run_with_a_snapshot_of_their_session() -> None:
    agent = Agent()
    machine, outbox, _, runner = await _runner(agent)
    machine.fire(Joined())
    machine.fire(Resumed())
    machine.fire(UserTurnCompleted("Hi"))
    machine.fire(ToolStarted("lookup"))  # internal: leaves and enters nothing
    await runner.drain()
    await asyncio.sleep(0)

    # Started in that order (exit, transition, enter); each runs on its own, so any may end first.
    assert sorted(name for name, _ in agent.seen) == [
        "enter thinking",
        "exit listening",
        "user_turn_completed",
    ]
    hook = dict(agent.seen)["enter thinking"]
    assert (hook.session_id, hook.conversation_id, hook.state) == ("s1", "c1", State.THINKING)
    assert hook.participant.display_name == "Ada"
    assert [item.text for item in hook.history] == []  # the recording effects keep none
    assert [entry.trigger for entry in hook.timeline][-1] is Trigger.USER_TURN_COMPLETED
    assert outbox.kinds() == ["app"]  # written from the sync hook's thread, onto the loop


async def test_a_hook_that_raises_or_hangs_is_contained_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    machine, _, writes, runner = await _runner(Misbehaving(), deadline_s=0.1)
    outcomes: list[tuple[str, str]] = []
    runner.subscribe_outcomes(lambda hook, outcome: outcomes.append((hook, outcome)))
    with caplog.at_level(logging.WARNING):
        machine.fire(Joined())
        machine.fire(Resumed())
        await runner.drain()

    assert sorted(outcomes) == [("block", "timeout"), ("explode", "failed"), ("hang", "timeout")]
    assert writes.record.counters.hooks == {"failed": 1, "timeout": 2}
    assert "agent code raised; contained, the call goes on" in caplog.text
    assert "agent code ran past its deadline; abandoned" in caplog.text
    assert "sk-live-0000" not in caplog.text  # a hook's message never reaches the log
    assert machine.state is State.LISTENING  # the lifecycle never waited


async def test_the_first_agents_hooks_outlive_handoffs_and_the_one_in_charge_joins_them() -> None:
    first, second, third = Agent(), Agent(), Agent()
    machine, _, _, runner = await _runner(first)
    machine.fire(Joined())
    machine.fire(Resumed())
    runner.use(second)  # a handoff
    machine.fire(UserTurnCompleted("Hi"))
    await runner.drain()
    runner.use(third)  # and another: second is no longer in charge
    machine.fire(HangUp())
    await runner.drain()
    everything = {"exit listening", "user_turn_completed", "enter thinking"}
    assert {name for name, _ in first.seen} == everything  # the session's hooks
    assert {name for name, _ in second.seen} == everything  # while it was in charge
    assert third.seen == []  # nothing it hooks happened while it was
    assert len(hooks_in_charge(first, first)) == 3  # handed back: its hooks run once, not twice
