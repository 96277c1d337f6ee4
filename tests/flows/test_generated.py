"""Tests generated from the flows' definitions, as the lifecycle's are from its table: every
edge taken with data its guards accept, and refused with data they do not, with no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.flows.tables import TableFlow
from voicefsm.examples.bistro import BistroFlow
from voicefsm.examples.booking import BookingFlow
from voicefsm.flows import Flow, StepRefusal, load_flow
from voicefsm.flows.samples import EdgeCase, edge_cases, sample_values
from voicefsm.testing import FlowHarness

EXAMPLES = Path(__file__).resolve().parents[2] / "voicefsm" / "examples"
FLOWS: list[type[Flow[Any]]] = [
    TableFlow,
    BookingFlow,
    load_flow(EXAMPLES / "booking.yaml"),
    BistroFlow,
]
CASES = [(flow, case) for flow in FLOWS for case in edge_cases(flow.definition)]
GUARDED = [(flow, case) for flow, case in CASES if case.edge.guards]


def _id(pair: tuple[type[Flow[Any]], EdgeCase]) -> str:
    flow = pair[0]
    kind = "file" if flow.__module__ == "types" else "class"
    return f"{flow.__name__}-{kind}-{pair[1]}"


@pytest.mark.parametrize("pair", CASES, ids=[_id(p) for p in CASES])
def test_every_edge_is_taken_with_data_its_guards_allow(
    pair: tuple[type[Flow[Any]], EdgeCase],
) -> None:
    flow, case = pair
    assert case.allowed is not None, f"no data lets {case.edge.name} be taken: give an example"
    harness = FlowHarness(flow, at=case.edge.source, data=case.allowed)
    step = harness.take(case.edge.name)
    assert step.accepted, step.reason
    assert harness.node == case.edge.target
    assert harness.path[-1] == case.edge.name
    [change] = harness.changes
    assert (change.source, change.dest, change.edge) == (
        case.edge.source,
        case.edge.target,
        case.edge.name,
    )
    assert not set(case.edge.clears) & harness.collected


@pytest.mark.parametrize("pair", GUARDED, ids=[_id(p) for p in GUARDED])
def test_every_guarded_edge_is_refused_with_data_its_guards_refuse(
    pair: tuple[type[Flow[Any]], EdgeCase],
) -> None:
    flow, case = pair
    assert case.refused is not None, f"no data makes {case.edge.name} refused: give an example"
    harness = FlowHarness(flow, at=case.edge.source, data=case.refused)
    step = harness.take(case.edge.name)
    assert (step.accepted, step.refusal) == (False, StepRefusal.GUARDED)
    assert step.reason
    assert harness.node == case.edge.source
    assert harness.changes == []


@pytest.mark.parametrize(
    "flow", FLOWS, ids=["TableFlow", "BookingFlow", "booking.yaml", "BistroFlow"]
)
def test_every_node_but_the_first_is_entered_by_some_edge_and_every_final_one_is_reached(
    flow: type[Flow[Any]],
) -> None:
    entered = {edge.target for edge in flow.definition.edges}
    assert entered | {flow.definition.initial} == {node.name for node in flow.definition.nodes}
    finals = {node.name for node in flow.definition.nodes if node.final}
    assert finals <= entered


def test_samples_follow_each_fields_type_and_constraints() -> None:
    model = TableFlow.definition.data_model
    assert sample_values(model, "party_size") == [1, 12, 6]
    assert sample_values(model, "day") == ["Friday", "Saturday"]
    assert sample_values(model, "confirmed") == [True, False]
    assert sample_values(model, "time") == ["20:00"]  # its examples, those that fit


def test_examples_stand_in_where_the_search_finds_no_data() -> None:
    [case] = [
        c
        for c in edge_cases(TableFlow.definition, {"go_to_events": ({"party_size": 9}, {})})
        if c.edge.name == "go_to_events"
    ]
    assert (case.allowed, case.refused) == ({"party_size": 9}, {})
