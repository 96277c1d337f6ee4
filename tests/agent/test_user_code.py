"""User code that misbehaves, on a real AgentSession with the reference backend (issue 25, items
1, 3, 4, 5): plain ``def`` tools, sync hooks driving the session from their thread,
``SystemExit`` and ``KeyboardInterrupt`` from hooks and tools, code that ignores cancellation or
blocks the loop. Whatever the code does, the call reaches ``exiting`` with its summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool

from trials.live_session import Live, live_session
from trials.support import Backend
from voicefsm.agent import VoiceAgent, entering, tool_deadline
from voicefsm.agent.hooks import HookContext
from voicefsm.lifecycle import EndReason, State
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow

#: A test that would hang on a regression fails instead.
WITHIN_S = 90


def _tool_outcomes(live: Live) -> dict[str, str]:
    return {call.name: call.outcome.value for call in live.session.record.tool_calls}


def _said(live: Live) -> list[str]:
    return [m.text for m in live.session.record.history if m.role.value == "assistant"]


def _assert_persisted(live: Live, backend: Backend) -> None:
    """The call ended properly: ``exiting``, its summary stored, nothing left in the spool."""
    assert live.session.lifecycle.state is State.EXITING
    summary = backend.session_summary(live.session.session_id)
    assert summary is not None
    assert live.outbox.undelivered() == 0


class SyncCode(VoiceAgent):
    """Plain ``def`` tools, one of which talks to the session from its thread."""

    def __init__(self) -> None:
        super().__init__(instructions="test", farewell="Bye from the sync agent.")
        self.tool_threads: list[str] = []

    @function_tool
    def lookup(self, context: RunContext[None], city: str) -> str:
        """Look up the weather in a city."""
        self.tool_threads.append(threading.current_thread().name)
        return f"It is sunny in {city}."

    @function_tool
    def announce_and_hang_up(self, context: RunContext[None]) -> str:
        """Say something, then end the call."""
        context.session.say("A word from the tool's own thread.")
        self.end_call()
        return "Ending."


async def test_plain_def_tools_run_off_the_loop_and_may_drive_the_session(
    tmp_path: Path, backend: Backend
) -> None:
    """Defect 4: a plain ``def`` tool failed (its result awaited). It now runs in a thread, and
    ``say`` and ``end_call`` from that thread reach the session on its loop."""
    agent = SyncCode()
    async with asyncio.timeout(WITHIN_S):
        async with live_session(tmp_path, backend_url=backend.url, agent=agent) as live:
            live.llm.script["Weather in Paris"] = ScriptedTurn(
                tools=(ScriptedToolCall("lookup", {"city": "Paris"}),)
            )
            live.llm.script["That is all"] = ScriptedTurn(
                tools=(ScriptedToolCall("announce_and_hang_up"),), preamble="Right."
            )
            await live.converse([Turn(user="Weather in Paris"), Turn(user="That is all")], "agent")

    assert _tool_outcomes(live) == {"lookup": "ok", "announce_and_hang_up": "ok"}
    assert agent.tool_threads == ["voicefsm-tool-lookup"]  # not the loop's thread
    assert "It is sunny in Paris." in _said(live)
    assert "A word from the tool's own thread." in _said(live)
    assert live.session.lifecycle.end_reason is EndReason.END_CALL
    assert _said(live)[-1] == "Bye from the sync agent."
    _assert_persisted(live, backend)
    assert [c["outcome"] for c in backend.events("tool_call")] == ["ok", "ok"]


class EndsFromAHookThread(VoiceAgent):
    """A sync hook that ends the call as soon as the agent listens, and one that files it."""

    def __init__(self) -> None:
        super().__init__(instructions="test")

    @entering(State.LISTENING)
    def hang_up_at_once(self, hook: HookContext) -> None:
        self.end_call()

    @entering(State.PERSISTING)
    def file(self, hook: HookContext) -> None:
        hook.write_event("filed", {"state": hook.state.value})


async def test_a_sync_hook_that_ends_the_call_ends_it_and_everything_is_persisted(
    tmp_path: Path, backend: Backend
) -> None:
    """Defect 1: the lifecycle was fired from the hook's thread; the call hung, unpersisted."""
    async with asyncio.timeout(WITHIN_S):
        async with live_session(
            tmp_path, backend_url=backend.url, agent=EndsFromAHookThread()
        ) as live:
            await live.session.finished.wait()  # nobody hangs up: the hook does

    assert live.session.lifecycle.end_reason is EndReason.END_CALL
    assert live.session.record.counters.hooks["ok"] >= 2
    assert [e["data"] for e in backend.events("app")] == [{"state": "persisting"}]
    _assert_persisted(live, backend)


class Exits(VoiceAgent):
    """``sys.exit`` from a sync hook and from a tool; ``KeyboardInterrupt`` from an async hook."""

    def __init__(self) -> None:
        super().__init__(instructions="test")

    @entering(State.THINKING)
    def exit_from_a_thread(self, hook: HookContext) -> None:
        sys.exit(4)

    @entering(State.LISTENING)
    async def interrupt_the_loop(self, hook: HookContext) -> None:
        raise KeyboardInterrupt

    @function_tool
    async def quit(self, context: RunContext[None]) -> str:
        """Quit."""
        sys.exit(3)


async def test_system_exit_and_keyboard_interrupt_from_user_code_are_contained(
    tmp_path: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 3: a BaseException that is not cancellation hung the call or lost its writes."""
    with caplog.at_level(logging.ERROR):
        async with asyncio.timeout(WITHIN_S):
            async with live_session(tmp_path, backend_url=backend.url, agent=Exits()) as live:
                live.llm.script["Quit please"] = ScriptedTurn(tools=(ScriptedToolCall("quit"),))
                await live.converse([Turn(user="Quit please"), Turn(user="Still there?")])

    assert _tool_outcomes(live) == {"quit": "error"}
    assert [c["outcome"] for c in backend.events("tool_call")] == ["error"]
    hooks = live.session.record.counters.hooks
    assert hooks["failed"] >= 4  # thinking twice, listening at least twice; none lost
    assert "Still there?" in [m.text for m in live.session.record.history]
    assert live.session.lifecycle.end_reason is EndReason.HANG_UP
    _assert_persisted(live, backend)
    failures = [r for r in caplog.records if r.getMessage().startswith("agent code raised")]
    assert {getattr(r, "error_type", None) for r in failures} == {"SystemExit", "KeyboardInterrupt"}
    # Named with where it was raised (this file), never with its message.
    assert all(str(getattr(r, "where", "")).startswith(f"{__file__}:") for r in failures)
    assert "never retrieved" not in caplog.text


class Uncooperative(VoiceAgent):
    """A tool that swallows cancellation, one that blocks the loop, and hooks doing the same."""

    def __init__(self) -> None:
        super().__init__(instructions="test")
        self.stubborn_running = asyncio.Event()
        self.stubborn_done = False

    @function_tool
    @tool_deadline(0.5)
    async def stubborn(self, context: RunContext[None]) -> str:
        """Ask a system that will not be told to stop."""
        for _ in range(20):
            with contextlib.suppress(asyncio.CancelledError):  # ignores cancellation
                await asyncio.sleep(0.5)
        return "finally"

    @function_tool
    async def blocking(self, context: RunContext[None]) -> str:
        """Ask a system through a blocking client."""
        time.sleep(0.8)  # in an async def: the whole loop freezes
        return "Blocked, but answered."

    @entering(State.THINKING)
    async def block_in_a_hook(self, hook: HookContext) -> None:
        time.sleep(0.6)

    @entering(State.PERSISTING)
    async def never_stops(self, hook: HookContext) -> None:
        self.stubborn_running.set()
        for _ in range(600):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.1)
        self.stubborn_done = True


async def test_deadlines_end_the_wait_for_uncooperative_code_and_stalls_are_named(
    tmp_path: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 5: a tool swallowing cancellation ran on, recorded ``ok``; one blocking the loop
    was ``ok``; a persisting hook ignoring cancellation held shutdown."""
    agent = Uncooperative()
    settings = {"hook_deadline_s": 0.5}
    with caplog.at_level(logging.WARNING):
        async with asyncio.timeout(WITHIN_S):
            async with live_session(
                tmp_path, backend_url=backend.url, agent=agent, settings=settings
            ) as live:
                live.llm.script["Ask the stubborn one"] = ScriptedTurn(
                    tools=(ScriptedToolCall("stubborn"),)
                )
                live.llm.script["Ask the blocking one"] = ScriptedTurn(
                    tools=(ScriptedToolCall("blocking"),)
                )
                await live.converse(
                    [
                        Turn(user="Ask the stubborn one"),
                        Turn(user="Ask the blocking one"),
                        Turn(user="Thanks"),
                    ]
                )

        # The straggler hook still runs, but a shutdown would not wait for it (livekit's job
        # process and asyncio's runner gather the loop's tasks).
        assert agent.stubborn_running.is_set()
        assert not agent.stubborn_done
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "voicefsm-hook-never_stops"]

    assert _tool_outcomes(live) == {"stubborn": "timeout", "blocking": "stalled"}
    assert "the stubborn tool did not finish within 0.5 s" in _said(live)
    assert "Blocked, but answered." in _said(live)  # its result was still used
    assert "Thanks" in [m.text for m in live.session.record.history]  # the turns went on
    hooks = live.session.record.counters.hooks
    assert hooks["stalled"] == 3  # block_in_a_hook, once per turn
    assert hooks["timeout"] == 1  # never_stops
    stalls = [r for r in caplog.records if "blocked the event loop" in r.getMessage()]
    assert {getattr(r, "tool", None) or getattr(r, "hook", None) for r in stalls} == {
        "blocking",
        "block_in_a_hook",
    }
    assert "agent code ran past its deadline; abandoned" in caplog.text
    assert [c["outcome"] for c in backend.events("tool_call")] == ["timeout", "stalled"]
    _assert_persisted(live, backend)
