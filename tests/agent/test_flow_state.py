"""Where the conversation is, is session state: a flow agent's node changes are on the
session's node timeline, written through the outbox as ``flow_state`` events, kept by the
backend and in the summary; a call that comes back to the conversation resumes at the node with
its data, without a greeting and without asking a finished step again."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import llm

from tests.agent.test_flow_agent import _script
from trials.support import Backend
from voicefsm import Providers, load_settings, open_session
from voicefsm.context import RoomMetadata
from voicefsm.engine.session import VoiceSession
from voicefsm.examples.booking import BookingAgent
from voicefsm.providers.scripted import ScriptedLLM

pytestmark = pytest.mark.slow  # real sessions against the real backend


async def _call(
    tmp_path: Path, backend: Backend, session_id: str, *turns: str, llm: ScriptedLLM
) -> tuple[BookingAgent, VoiceSession]:
    settings = load_settings(
        spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url, flush_deadline_s=5.0
    )
    agent = BookingAgent()
    async with open_session(
        agent,
        providers=Providers(llm=llm, turn_detection="manual"),
        settings=settings,
        session_id=session_id,
        room=RoomMetadata(conversation_id="c-table"),
    ) as session:
        await session.settled()
        for text in turns:
            await session.agent_session.run(user_input=text)
        session.end()
        await session.finished.wait()
    return agent, session


async def test_node_changes_are_on_the_timeline_in_the_outbox_the_backend_and_the_summary(
    tmp_path: Path, backend: Backend
) -> None:
    model = ScriptedLLM(
        ttft_s=0.0,
        script=_script(
            I_want_a_table=("start_booking", {}),
            Four_of_us=("set_party_size", {"party_size": 4}),
        ),
    )
    agent, session = await _call(
        tmp_path, backend, "flow-a", "I want a table", "Four of us", llm=model
    )
    [entry] = session.flows.entries
    assert entry.as_json() | {"t": 0, "dwell_s": 0} == {
        "t": 0,
        "kind": "node",
        "flow": "BookingFlow",
        "step": 1,
        "edge": "start_booking",
        "from": "greet",
        "to": "collect",
        "by": "model",
        "turn": 1,
        "dwell_s": 0,
    }
    # On the lifecycle's clock: after the turn began, before the session ended.
    timeline = list(session.lifecycle.timeline)
    assert timeline[2].t < entry.t < timeline[-1].t
    # The node change, then the party size collected at that node: each written as it happened.
    moved, collected = backend.events("flow_state")
    assert (moved["from_node"], moved["to_node"], moved["by"]) == ("greet", "collect", "model")
    assert (moved["state"]["node"], moved["state"]["data"]) == ("collect", {})  # type: ignore[index]
    assert (collected["edge"], collected["to_node"], collected["step"]) == (None, "collect", 1)
    assert collected["state"]["data"] == {"party_size": 4}  # type: ignore[index]
    summary = backend.session_summary("flow-a")
    assert summary is not None
    flows = {flow["flow"]: flow for flow in summary["flows"]}  # type: ignore[attr-defined]
    # The booking flow, and the graph of the agents it can hand the call to (still at the first).
    assert flows["BookingAgentAgents"]["node"] == "BookingAgent"
    flow = flows["BookingFlow"]
    assert flow["node"] == "collect"
    assert flow["data"] == {"party_size": 4}
    assert [step["edge"] for step in flow["path"]] == ["start_booking"]
    assert [node["to_node"] for node in flow["nodes"]] == ["collect"]
    assert agent.flow is not None
    assert agent.flow.data.party_size == 4


async def test_a_call_that_comes_back_resumes_at_its_node_with_its_data_and_no_greeting(
    tmp_path: Path, backend: Backend
) -> None:
    first = ScriptedLLM(
        ttft_s=0.0,
        script=_script(
            I_want_a_table=("start_booking", {}),
            Four_of_us=("set_party_size", {"party_size": 4}),
        ),
    )
    await _call(tmp_path, backend, "flow-1", "I want a table", "Four of us", llm=first)
    second = ScriptedLLM(ttft_s=0.0, script=_script(On_Friday=("set_day", {"day": "Friday"})))
    agent, session = await _call(tmp_path, backend, "flow-2", "On Friday", llm=second)

    triggers = [e.trigger.value for e in session.lifecycle.timeline]
    assert "resumed" in triggers
    assert "greeted" not in triggers
    assert agent.flow is not None
    assert agent.flow.node == "collect"
    assert agent.flow.data.model_dump(exclude_none=True) == {"party_size": 4, "day": "Friday"}
    assert agent.flow.steps == 1  # the step count carries on; nothing was taken twice
    # The step it had finished (start_booking, greet) is not offered again.
    offered = set(llm.ToolContext(agent.tools).function_tools)
    assert "start_booking" not in offered
    assert {"set_time", "details_complete"} <= offered
    said = [m.text for m in session.record.history if m.role.value == "assistant"]
    assert not any("Would you like to book a table" in text for text in said)
