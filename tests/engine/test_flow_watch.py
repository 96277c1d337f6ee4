"""FlowWatch: a call's flows followed node by node, against fakes. Each node change is on the
node timeline (on the lifecycle's clock), written as a ``flow_state`` event with the flow's
state after it, and told to listeners; data collected without a move is written after the
tool call; a state the contract refuses is counted, never raised; the summary says where each
flow ended."""

from __future__ import annotations

import logging
from itertools import count

import pytest
from pydantic import BaseModel, Field

from tests.engine.fakes import FakeOutbox, session_writes
from voicefsm.backend.flow_state import FlowStateEvent
from voicefsm.engine.flow_watch import FlowWatch, NodeEntry
from voicefsm.flows import Flow, Node
from voicefsm.lifecycle import Lifecycle, ToolCall, ToolOutcome
from voicefsm.testing import RecordingEffects


class Order(BaseModel):
    dish: str | None = Field(default=None, max_length=100_000)
    notes: str | None = Field(default=None, max_length=100_000)


class OrderFlow(Flow[Order]):
    ask = Node("Ask what they would like.", collects=("dish", "notes"))
    done = Node("Say goodbye.", final=True)

    ordered = ask.to(done, requires=("dish",))


def _watch(outbox: FakeOutbox) -> tuple[FlowWatch, OrderFlow, Lifecycle]:
    ticks = count()
    clock = lambda: float(next(ticks))  # noqa: E731 (a second a reading)
    lifecycle = Lifecycle(RecordingEffects(), clock=clock)
    watch = FlowWatch(lifecycle, session_writes(outbox), clock=clock)
    flow = OrderFlow()
    watch.follow(flow)
    return watch, flow, lifecycle


def _tool() -> ToolCall:
    return ToolCall("c1", "set_dish", 0, "{}", "Done.", ToolOutcome.OK, 0.01, False)


def _flow_states(outbox: FakeOutbox) -> list[FlowStateEvent]:
    return [event for _, event in outbox.events if isinstance(event, FlowStateEvent)]


async def test_a_node_change_is_on_the_timeline_written_and_told() -> None:
    outbox = FakeOutbox()
    watch, flow, _ = _watch(outbox)
    told: list[NodeEntry] = []
    watch.subscribe(told.append)
    flow.set("dish", "soup")
    watch.tool_finished(_tool())  # data collected without a move: written after the call
    flow.take("ordered", by="model")

    collected, moved = _flow_states(outbox)
    assert (collected.edge, collected.to_node, collected.step) == (None, "ask", 0)
    assert collected.state["data"] == {"dish": "soup"}
    assert (moved.edge, moved.from_node, moved.to_node, moved.by) == (
        "ordered",
        "ask",
        "done",
        "model",
    )
    assert moved.state["node"] == "done"
    assert moved.idempotency_key != collected.idempotency_key
    [entry] = watch.entries
    assert told == [entry]
    assert entry.t > 0  # on the lifecycle's clock, after its origin
    assert entry.as_json()["kind"] == "node"
    [summary] = watch.summaries()
    assert (summary.flow, summary.node, summary.steps) == ("OrderFlow", "done", 1)
    assert [(n.from_node, n.to_node, n.edge) for n in summary.nodes] == [("ask", "done", "ordered")]


async def test_a_tool_call_that_collected_nothing_writes_nothing() -> None:
    outbox = FakeOutbox()
    watch, _, _ = _watch(outbox)
    watch.tool_finished(_tool())
    assert _flow_states(outbox) == []


async def test_a_state_over_the_contract_limit_is_counted_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = FakeOutbox()
    watch, flow, _ = _watch(outbox)
    flow.set("notes", "x" * 70_000)
    with caplog.at_level(logging.ERROR):
        watch.tool_finished(_tool())
    assert _flow_states(outbox) == []
    assert watch._writes.record.counters.writes_refused == 1
    assert "flow state refused by the contract" in caplog.text
    # The summary leaves out the flow the contract refuses, and keeps the rest of the session.
    assert watch.summaries() == []


async def test_a_listener_that_raises_is_dropped_and_the_others_still_told() -> None:
    outbox = FakeOutbox()
    watch, flow, _ = _watch(outbox)
    told: list[NodeEntry] = []

    def broken(_entry: NodeEntry) -> None:
        raise RuntimeError

    watch.subscribe(broken)
    watch.subscribe(told.append)
    flow.set("dish", "soup")
    flow.take("ordered")
    assert len(told) == 1
    assert len(_flow_states(outbox)) == 1


async def test_a_later_run_of_the_same_flow_replaces_the_earlier_one() -> None:
    outbox = FakeOutbox()
    watch, first, _ = _watch(outbox)
    second = OrderFlow()
    watch.follow(second)
    first.set("dish", "soup")
    first.take("ordered")  # no longer followed: not recorded
    assert watch.entries == []
    assert watch.runs == {"OrderFlow": second}
