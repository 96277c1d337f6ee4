"""ToolWatch: livekit's tool events become ToolStarted/ToolFinished on the lifecycle, each
finished call classified (ok, no reply, error, timeout, cancelled), its reply's deadline kept
right, and a filler said for a tool that takes a while. Tools get deadlines of their own."""

from __future__ import annotations

import asyncio
import logging

import pytest
from livekit.agents import (
    Agent,
    FunctionToolsExecutedEvent,
    ToolCallEnded,
    ToolCallStarted,
    ToolError,
    ToolExecutionUpdatedEvent,
    function_tool,
    llm,
)
from livekit.agents.voice import SpeechHandle

from tests.engine.fakes import FakeAgentSession, lifecycle, trail
from voicefsm.agent.tools import tool_deadline
from voicefsm.engine.tool_deadlines import with_deadlines
from voicefsm.engine.tool_watch import ToolWatch
from voicefsm.lifecycle import Joined, Resumed, ToolCall, ToolOutcome, UserTurnCompleted


class Replies:
    """The pipeline's side (``ToolReplies``), recording what the watch tells it."""

    def __init__(self) -> None:
        self.speech: SpeechHandle | None = SpeechHandle.create()
        self.told: list[tuple[str, object]] = []

    def unfinished_speech(self) -> SpeechHandle | None:
        return self.speech

    def tools_started(self, handle: SpeechHandle) -> None:
        self.told.append(("tools_started", handle))

    def tools_finished(self, handle: SpeechHandle, reply_wanted: bool) -> None:
        self.told.append(("tools_finished", reply_wanted))

    def say_filler(self) -> None:
        self.told.append(("say_filler", None))


def _watch(filler_after_s: float = 0.0):
    session, replies = FakeAgentSession(), Replies()
    machine, effects = lifecycle()
    machine.fire(Joined())
    machine.fire(Resumed())
    machine.fire(UserTurnCompleted("Weather in Paris"))  # thinking, turn 1
    watch = ToolWatch(session, machine, replies, filler_after_s=filler_after_s)  # type: ignore[arg-type]
    return session, replies, machine, effects, watch


def _call(name: str = "lookup", call_id: str = "call-1") -> llm.FunctionCall:
    return llm.FunctionCall(call_id=call_id, name=name, arguments='{"city": "Paris"}')


def _started(session: FakeAgentSession, call: llm.FunctionCall) -> None:
    session.emit(
        "tool_execution_updated",
        ToolExecutionUpdatedEvent(update=ToolCallStarted(function_call=call)),
    )


def _ended(session: FakeAgentSession, call: llm.FunctionCall, status: str = "done") -> None:
    update = ToolCallEnded(id=call.id, call_id=call.call_id, status=status)  # type: ignore[arg-type]
    session.emit("tool_execution_updated", ToolExecutionUpdatedEvent(update=update))


def _executed(
    session: FakeAgentSession,
    call: llm.FunctionCall,
    output: str = "It is sunny in Paris.",
    *,
    is_error: bool = False,
    reply_required: bool = True,
) -> None:
    result = llm.FunctionCallOutput(
        call_id=call.call_id, output=output, is_error=is_error, reply_required=reply_required
    )
    event = FunctionToolsExecutedEvent(function_calls=[call], function_call_outputs=[result])
    session.emit("function_tools_executed", event)


async def test_a_call_is_on_the_timeline_recorded_and_told_to_the_listeners() -> None:
    session, replies, machine, effects, watch = _watch()
    heard: list[ToolCall] = []
    watch.subscribe(heard.append)
    call = _call()

    _started(session, call)
    _ended(session, call)
    _executed(session, call)

    assert trail(machine)[-2:] == [
        ("thinking", "tool_started", "thinking"),
        ("thinking", "tool_finished", "thinking"),
    ]
    assert [e.detail for e in machine.timeline][-2:] == ["lookup", "lookup: ok"]
    [recorded] = [c.args[0] for c in effects.calls if c.name == "record_tool"]
    assert heard == [recorded]
    assert (recorded.name, recorded.call_id, recorded.turn, recorded.outcome) == (
        "lookup",
        "call-1",
        1,
        ToolOutcome.OK,
    )
    assert (recorded.arguments, recorded.result, recorded.interrupted) == (
        '{"city": "Paris"}',
        "It is sunny in Paris.",
        False,
    )
    assert recorded.duration_s >= 0
    # The reply waited on the tool (no start deadline meanwhile), then wants an answer.
    assert replies.told == [("tools_started", replies.speech), ("tools_finished", True)]


@pytest.mark.parametrize(
    ("output", "status", "timed_out", "expected"),
    [
        ({"reply_required": False}, "done", False, ToolOutcome.NO_REPLY),
        ({"is_error": True}, "error", False, ToolOutcome.ERROR),
        ({"is_error": True}, "error", True, ToolOutcome.TIMEOUT),
        ({}, "cancelled", False, ToolOutcome.CANCELLED),
    ],
)
async def test_how_a_call_ended_is_its_outcome(
    output: dict[str, bool], status: str, timed_out: bool, expected: ToolOutcome
) -> None:
    session, _, _, effects, watch = _watch()
    call = _call("stuck")
    _started(session, call)
    if timed_out:
        watch.timed_out("stuck")  # the deadline wrapper stopped it
    _ended(session, call, status)
    _executed(session, call, **output)

    [recorded] = [c.args[0] for c in effects.calls if c.name == "record_tool"]
    assert recorded.outcome is expected


async def test_a_timeout_counts_for_one_error_of_that_tool_only() -> None:
    session, _, _, effects, watch = _watch()
    watch.timed_out("stuck")
    for call_id in ("a", "b"):
        call = _call("stuck", call_id)
        _started(session, call)
        _executed(session, call, is_error=True)

    outcomes = [c.args[0].outcome for c in effects.calls if c.name == "record_tool"]
    assert outcomes == [ToolOutcome.TIMEOUT, ToolOutcome.ERROR]


async def test_a_call_whose_reply_was_barged_in_on_is_interrupted_not_silent() -> None:
    """livekit drops the reply of a tool whose speech was interrupted: that is the barge-in,
    not the tool asking for silence."""
    session, replies, _, effects, _ = _watch()
    call = _call()
    _started(session, call)
    assert replies.speech is not None
    replies.speech._cancel()
    _executed(session, call, reply_required=False)

    [recorded] = [c.args[0] for c in effects.calls if c.name == "record_tool"]
    assert (recorded.outcome, recorded.interrupted) == (ToolOutcome.OK, True)
    assert replies.told[-1] == ("tools_finished", False)


async def test_a_tool_still_running_after_the_filler_delay_gets_one_filler() -> None:
    session, replies, _, _, _ = _watch(filler_after_s=0.01)
    first, second = _call("slow", "a"), _call("slow", "b")
    _started(session, first)
    _started(session, second)  # one batch: one filler at most
    await asyncio.sleep(0.05)
    _executed(session, first)

    assert [name for name, _ in replies.told].count("say_filler") == 1


async def test_a_tool_done_before_the_filler_delay_gets_none() -> None:
    session, replies, _, _, _ = _watch(filler_after_s=0.05)
    call = _call()
    _started(session, call)
    _executed(session, call)
    await asyncio.sleep(0.1)

    assert "say_filler" not in [name for name, _ in replies.told]


class _Tools(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You look things up.")

    @function_tool
    @tool_deadline(0.05)
    async def stuck(self) -> str:
        """Ask a system that never answers."""
        await asyncio.sleep(30)
        return "never said"

    @function_tool
    async def own_timeout(self) -> str:
        """A tool with a timeout of its own."""
        raise TimeoutError

    @function_tool
    async def quick(self) -> str:
        """Answers at once."""
        return "done"


class _Reports:
    """The watch's side of a tool's deadline (``ToolReports``), recording what it is told."""

    def __init__(self) -> None:
        self.log = logging.getLogger("test")
        self.told: list[tuple[str, str]] = []

    def timed_out(self, name: str) -> None:
        self.told.append(("timed_out", name))

    def stalled(self, name: str) -> None:
        self.told.append(("stalled", name))


async def test_a_tool_past_its_deadline_is_stopped_and_the_model_told() -> None:
    agent, reports = _Tools(), _Reports()
    await with_deadlines(agent, 5.0, reports)
    tools = {tool.info.name: tool for tool in agent.tools if isinstance(tool, llm.FunctionTool)}

    with pytest.raises(ToolError, match=r"the stuck tool did not finish within 0\.05 s"):
        await tools["stuck"]()
    with pytest.raises(TimeoutError):  # its own, not ours: not counted
        await tools["own_timeout"]()
    assert await tools["quick"]() == "done"
    assert reports.told == [("timed_out", "stuck")]


async def test_an_agent_prepared_twice_keeps_one_deadline_per_tool() -> None:
    """A handoff back to an agent prepares it again: its tools are not wrapped twice."""
    agent = _Tools()
    await with_deadlines(agent, 5.0, _Reports())
    wrapped = list(agent.tools)
    await with_deadlines(agent, 5.0, _Reports())
    assert all(a is b for a, b in zip(agent.tools, wrapped, strict=True))


class _NodeTools(llm.Toolset):
    """A toolset whose tools change, as a flow's do with its node."""

    def __init__(self, *nodes: list[llm.Tool]) -> None:
        self.nodes, self.at = nodes, 0
        super().__init__(id="nodes")

    @property
    def tools(self) -> list[llm.Tool]:
        return self.nodes[self.at]


def _lookup() -> str:
    """A plain ``def`` tool: livekit would await its string."""
    return "found"


@tool_deadline(0.05)
async def _hang() -> str:
    """Never answers."""
    await asyncio.sleep(30)
    return "never said"


async def test_tools_inside_a_toolset_run_contained_whichever_node_offers_them() -> None:
    """A flow's node tools live in a toolset read afresh at each step: each is wrapped when it
    is offered, once, and runs as the agent's own tools do."""
    lookup = function_tool(_lookup)  # type: ignore[type-var]  # livekit runs it; its types disagree
    hang = function_tool(_hang)
    toolset = _NodeTools([lookup], [hang])
    agent, reports = Agent(instructions="You look things up.", tools=[toolset]), _Reports()
    await with_deadlines(agent, 5.0, reports)
    [contained] = agent.tools
    assert isinstance(contained, llm.Toolset)

    [first] = contained.tools
    assert isinstance(first, llm.FunctionTool)
    assert await first() == "found"  # run in a thread, not awaited as a coroutine
    assert contained.tools[0] is first  # wrapped once

    toolset.at = 1  # the flow moved on
    [second] = contained.tools
    assert isinstance(second, llm.FunctionTool)
    with pytest.raises(ToolError, match=r"the _hang tool did not finish within 0\.05 s"):
        await second()
    assert reports.told == [("timed_out", "_hang")]
