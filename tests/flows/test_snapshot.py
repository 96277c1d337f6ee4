"""A flow is stored as JSON at every node change and restored when a call resumes; what comes
back from storage is checked before anything changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.flows.tables import TableFlow
from voicefsm.errors import FlowRestoreError


def _walked() -> TableFlow:
    flow = TableFlow(now=lambda: 1_767_225_600.25)
    flow.take("go_to_collect", by="model")
    flow.set("party_size", 4)
    flow.set("day", "Friday")
    flow.set("time", "20:00")
    flow.take("go_to_confirm")
    return flow


def test_a_snapshot_is_json_and_says_where_the_conversation_is() -> None:
    snapshot = _walked().snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot == {
        "flow": "TableFlow",
        "version": 1,
        "node": "confirm",
        "steps": 2,
        "data": {"party_size": 4, "day": "Friday", "time": "20:00"},
        "path": [
            {
                "step": 1,
                "edge": "go_to_collect",
                "from": "greet",
                "to": "collect",
                "by": "model",
                "at": 1767225600.25,
            },
            {
                "step": 2,
                "edge": "go_to_confirm",
                "from": "collect",
                "to": "confirm",
                "by": "code",
                "at": 1767225600.25,
            },
        ],
    }


def test_a_restored_flow_resumes_at_its_node_with_its_data_and_goes_on() -> None:
    resumed = TableFlow()
    resumed.restore(json.loads(json.dumps(_walked().snapshot())))
    assert (resumed.node, resumed.steps) == ("confirm", 2)
    assert resumed.data == _walked().data
    assert resumed.collected == {"party_size", "day", "time"}
    assert [step.edge for step in resumed.path] == ["go_to_collect", "go_to_confirm"]
    [change] = resumed.set("confirmed", True).changes
    assert (change.step, change.edge, change.dest) == (3, "confirmed_yes", "email")


def test_a_snapshot_keeps_the_latest_steps_and_counts_them_all() -> None:
    flow = _walked()
    for _ in range(30):
        flow.take("change_details")
        flow.take("go_to_confirm")
    snapshot = flow.snapshot()
    assert snapshot["steps"] == 62
    path: Any = snapshot["path"]
    assert len(path) == TableFlow.snapshot_path_limit
    assert path[-1]["step"] == 62
    TableFlow().restore(snapshot)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"node": "lounge"}, "the snapshot is at node lounge, which the flow does not have"),
        ({"flow": "OtherFlow"}, "the snapshot is of flow OtherFlow"),
        (
            {"data": {"party_size": 50}},
            "does not fit Booking (party_size: Input should be less than or equal to 12)",
        ),
        ({"data": {"colour": "blue"}}, "the snapshot's data has fields the flow does not: colour"),
        ({"version": 2}, "not a flow snapshot (version: Input should be 1)"),
        ({"steps": 1}, "the snapshot's path goes past its step count"),
        ({"path": [{"step": 1}]}, "not a flow snapshot (path.0.edge: Field required)"),
        (
            {"data": "party_size=4"},
            "not a flow snapshot (data: Input should be a valid dictionary)",
        ),
    ],
)
def test_a_snapshot_that_does_not_fit_is_refused_and_nothing_changes(
    change: dict[str, object], message: str
) -> None:
    flow = TableFlow()
    flow.take("go_to_collect")
    with pytest.raises(FlowRestoreError) as caught:
        flow.restore({**_walked().snapshot(), **change})
    assert str(caught.value).startswith("flow TableFlow: ")
    assert message in str(caught.value)
    assert (flow.node, flow.steps, flow.collected) == ("collect", 1, frozenset())


def test_a_snapshot_that_is_not_even_a_mapping_is_refused() -> None:
    with pytest.raises(FlowRestoreError, match="not a flow snapshot"):
        TableFlow().restore(["confirm"])  # type: ignore[arg-type]


def test_a_long_call_keeps_the_latest_steps_in_memory_and_counts_them_all() -> None:
    class Short(TableFlow):
        path_limit = 5

    flow = Short()
    flow.take("go_to_collect")
    for field, value in (("party_size", 4), ("day", "Friday"), ("time", "20:00")):
        flow.set(field, value)
    for _ in range(10):
        flow.take("go_to_confirm")
        flow.take("change_details")
    assert flow.steps == 21
    assert [step.step for step in flow.path] == [17, 18, 19, 20, 21]
    assert [step.step for step in flow.recent_path(2)] == [20, 21]
    assert flow.recent_path(0) == ()
