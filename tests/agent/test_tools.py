"""Tool calls through the lifecycle: a real AgentSession, the scripted model calling the real
@function_tools of an agent, and the reference backend. Each case asserts the timeline, the
history, what was said and what was persisted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trials.live_session import Live, live_session
from trials.support import Backend
from trials.tool_agent import ToolAgent
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow


def _script(live: Live, user: str, *tools: ScriptedToolCall, **turn: str) -> None:
    live.llm.script[user] = ScriptedTurn(tools=tools, **turn)


def _from_turn(live: Live, turn: int) -> list[tuple[str, str, str, str | None]]:
    trail = [
        (e.source.value, e.trigger.value, e.dest.value, e.detail)
        for e in live.session.lifecycle.timeline
    ]
    starts = [i for i, step in enumerate(trail) if step[1] == "user_turn_completed"]
    return trail[starts[turn - 1] :]


def _said(live: Live) -> list[tuple[str, str]]:
    return [(m.role.value, m.text) for m in live.session.record.history[1:]]


async def test_tools_that_answer_are_called_recorded_and_their_answers_spoken(
    tmp_path: Path, backend: Backend
) -> None:
    """One tool in a reply, then two: each on the timeline, recorded, persisted, answered."""
    async with live_session(tmp_path, backend_url=backend.url, agent=ToolAgent()) as live:
        _script(live, "Weather in Paris", ScriptedToolCall("lookup", {"city": "Paris"}))
        _script(
            live,
            "Weather in Oslo and Rome",
            ScriptedToolCall("lookup", {"city": "Oslo"}),
            ScriptedToolCall("lookup", {"city": "Rome"}),
        )
        await live.converse([Turn(user="Weather in Paris"), Turn(user="Weather in Oslo and Rome")])
        await asyncio.sleep(0)

    assert _from_turn(live, 1)[:5] == [
        ("listening", "user_turn_completed", "thinking", None),
        ("thinking", "tool_started", "thinking", "lookup"),
        ("thinking", "tool_finished", "thinking", "lookup: ok"),
        ("thinking", "reply_started", "speaking", None),
        ("speaking", "reply_finished", "listening", None),
    ]
    assert _said(live)[:2] == [("user", "Weather in Paris"), ("assistant", "It is sunny in Paris.")]
    # livekit's own history (what the model sees next turn) has the call and its output too.
    items = live.session.agent_session.history.items
    function_call = next(i for i in items if i.type == "function_call")
    output = next(i for i in items if i.type == "function_call_output")
    assert (function_call.name, function_call.arguments) == ("lookup", '{"city": "Paris"}')
    assert (output.call_id, output.output, output.is_error) == (
        function_call.call_id,
        "It is sunny in Paris.",
        False,
    )
    calls = {call["arguments"]: call for call in backend.events("tool_call")}
    call = calls['{"city": "Paris"}']
    assert (call["name"], call["outcome"], call["result"]) == (
        "lookup",
        "ok",
        "It is sunny in Paris.",
    )
    assert call["turn"] == 1

    # Several tools in one reply.
    assert [step[1] for step in _from_turn(live, 2)[:5]] == [
        "user_turn_completed",
        "tool_started",
        "tool_started",
        "tool_finished",
        "tool_finished",
    ]
    assert ("assistant", "It is sunny in Oslo. It is sunny in Rome.") in _said(live)
    assert sorted(calls) == ['{"city": "Oslo"}', '{"city": "Paris"}', '{"city": "Rome"}']

    # Counted in the record, for the reports.
    first = live.session.record.tool_calls[0]
    assert (first.name, first.outcome.value, first.turn) == ("lookup", "ok", 1)
    assert len(live.session.record.tool_calls) == 3


async def test_a_tool_returning_none_ends_the_turn_quietly_without_a_retry(
    tmp_path: Path, backend: Backend
) -> None:
    """livekit's "no reply wanted": not an empty reply, so no failure and no second LLM call."""
    async with live_session(tmp_path, backend_url=backend.url, agent=ToolAgent()) as live:
        _script(live, "Remember the blue door", ScriptedToolCall("remember", {"note": "blue door"}))
        await live.converse([Turn(user="Remember the blue door"), Turn(user="Thanks")])
        calls = live.llm.calls

    assert _from_turn(live, 1)[:4] == [
        ("listening", "user_turn_completed", "thinking", None),
        ("thinking", "tool_started", "thinking", "remember"),
        ("thinking", "tool_finished", "thinking", "remember: no_reply"),
        ("thinking", "reply_finished", "listening", None),
    ]
    assert calls == 2  # one per user turn: nothing retried
    assert _said(live)[:2] == [("user", "Remember the blue door"), ("user", "Thanks")]
    assert [e["name"] for e in backend.events("app")] == ["note"]
    assert backend.events("app")[0]["data"] == {"note": "blue door"}
    assert [c["outcome"] for c in backend.events("tool_call")] == ["no_reply"]
    assert not backend.events("error")


async def test_a_tool_that_raises_or_has_a_bug_is_an_error_event_and_the_call_goes_on(
    tmp_path: Path, backend: Backend
) -> None:
    """A ToolError the model is told and answers; then a plain exception (a bug in the tool),
    of which livekit tells the model only that an internal error occurred. The lifecycle
    records both like any failed tool."""
    async with live_session(tmp_path, backend_url=backend.url, agent=ToolAgent()) as live:
        _script(live, "Book a room", ScriptedToolCall("broken"))
        _script(live, "Is Tuesday free", ScriptedToolCall("buggy"))
        await live.converse(
            [Turn(user="Book a room"), Turn(user="Is Tuesday free"), Turn(user="Thanks")]
        )

    assert ("thinking", "tool_finished", "thinking", "broken: error") in _from_turn(live, 1)
    assert ("speaking", "reply_finished", "listening", None) in _from_turn(live, 1)
    assert ("assistant", "the booking system is down") in _said(live)  # what the model was told
    assert ("thinking", "tool_finished", "thinking", "buggy: error") in _from_turn(live, 2)
    assert ("speaking", "reply_finished", "listening", None) in _from_turn(live, 2)
    assert _from_turn(live, 3)[0] == ("listening", "user_turn_completed", "thinking", None)
    broken, buggy = backend.events("tool_call")
    assert (broken["outcome"], broken["result"]) == ("error", "the booking system is down")
    assert (buggy["outcome"], buggy["result"]) == ("error", "An internal error occurred")
    # livekit reports the bug as a ToolError too (it logs the bug's traceback itself).
    assert [(e["source"], e["error_type"]) for e in backend.events("error")] == [
        ("tool", "ToolError"),
        ("tool", "ToolError"),
    ]


async def test_a_tool_past_its_deadline_is_stopped_and_the_call_goes_on(
    tmp_path: Path, backend: Backend
) -> None:
    async with live_session(tmp_path, backend_url=backend.url, agent=ToolAgent()) as live:
        _script(live, "Ask the old system", ScriptedToolCall("stuck"))
        await live.converse([Turn(user="Ask the old system"), Turn(user="Never mind")])

    assert ("thinking", "tool_finished", "thinking", "stuck: timeout") in _from_turn(live, 1)
    assert ("assistant", "the stuck tool did not finish within 0.5 s") in _said(live)
    [call] = backend.events("tool_call")
    assert call["outcome"] == "timeout"
    assert 0.5 <= call["duration_s"] < 2
    assert ("error", "ToolTimeout") in [("error", e["error_type"]) for e in backend.events("error")]
    assert "Never mind" in [text for role, text in _said(live) if role == "user"]


async def test_a_slow_tool_is_not_a_hung_provider_and_gets_a_filler(
    tmp_path: Path, backend: Backend
) -> None:
    """Slower than the reply-start deadline: no reply_failed, no retry; the filler is said."""
    settings = {"reply_start_deadline_s": 1.5, "tool_filler_after_s": 0.5}
    async with live_session(
        tmp_path, backend_url=backend.url, agent=ToolAgent(), settings=settings
    ) as live:
        _script(live, "Find my order", ScriptedToolCall("slow", {"seconds": 3.0}))
        await live.converse([Turn(user="Find my order")])

    trail = _from_turn(live, 1)
    assert not [step for step in trail if step[1] == "reply_failed"]
    assert ("thinking", "tool_finished", "thinking", "slow: ok") in trail
    assert ("assistant", "Still looking, one moment.") in _said(live)
    assert ("assistant", "Found it after a long search.") in _said(live)
    assert backend.events("tool_call")[0]["duration_s"] >= 3.0


async def test_a_barge_in_during_a_tool_stops_the_reply_and_records_the_tool_once_done(
    tmp_path: Path, backend: Backend
) -> None:
    agent = ToolAgent()
    async with live_session(tmp_path, backend_url=backend.url, agent=agent) as live:
        _script(
            live,
            "Search everything",
            ScriptedToolCall("slow", {"seconds": 3.0}),
            preamble="Let me search all of it.",
        )
        await live.converse(
            [
                Turn(user="Search everything"),
                Turn(user="Stop, forget it", interrupt_after_ms=300),
            ]
        )

    trail = _from_turn(live, 1)
    steps = [step[:3] for step in trail]
    started = steps.index(("speaking", "tool_started", "speaking"))  # after "Let me search..."
    barged = next(
        i for i, s in enumerate(steps) if s[1] in ("interrupted", "user_turn_completed") and i > 0
    )
    finished = next(i for i, step in enumerate(trail) if step[1] == "tool_finished")
    assert started < barged < finished  # the user took the floor while the tool ran ...
    assert trail[finished][3] == "slow: ok"  # ... which livekit let finish, and it was recorded
    [call] = backend.events("tool_call")
    assert call["interrupted"] is True
    assert call["outcome"] == "ok"
    assert "Found it after a long search." not in [text for _, text in _said(live)]
    assert [text for role, text in _said(live) if role == "user"] == [
        "Search everything",
        "Stop, forget it",
    ]
