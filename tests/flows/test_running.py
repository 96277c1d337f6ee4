"""A running flow: moved by code and by the model's tools, refusing with reasons, never raising."""

from __future__ import annotations

import itertools

import pytest
from pydantic import BaseModel

from tests.flows.tables import EmailResult, TableFlow
from voicefsm.flows import Flow, Node, NodeChange, StepRefusal
from voicefsm.flows.events import RefusalKey


class Size(BaseModel):
    size: int | None = None


def _at_collect() -> TableFlow:
    flow = TableFlow()
    assert flow.take("go_to_collect").accepted
    return flow


def _filled(flow: TableFlow) -> TableFlow:
    for field, value in (("party_size", 4), ("day", "Friday"), ("time", "20:00")):
        assert flow.set(field, value).accepted
    return flow


def test_a_flow_starts_at_its_initial_node_with_nothing_collected() -> None:
    flow = TableFlow()
    assert (flow.node, flow.collected, flow.path, flow.steps) == ("greet", frozenset(), (), 0)
    assert flow.data.party_size is None
    assert [e.name for e in flow.available_edges()] == ["go_to_collect"]
    assert not flow.is_finished


def test_taking_an_edge_moves_the_flow_and_records_the_path() -> None:
    flow = TableFlow(now=lambda: 1_767_225_600.0)
    step = flow.take(TableFlow.go_to_collect, by="model")
    assert (step.accepted, step.node, step.reason, step.refusal) == (True, "collect", "", None)
    [change] = step.changes
    assert (change.step, change.edge, change.source, change.dest, change.by) == (
        1,
        "go_to_collect",
        "greet",
        "collect",
        "model",
    )
    assert change.at == 1_767_225_600.0
    assert [(s.edge, s.source, s.dest) for s in flow.path] == [
        ("go_to_collect", "greet", "collect")
    ]


def test_an_edge_from_another_node_is_refused_and_nothing_changes() -> None:
    flow = TableFlow()
    step = flow.take("go_to_confirm")
    assert (step.accepted, step.refusal, step.node) == (False, StepRefusal.ILLEGAL, "greet")
    assert step.reason == "go_to_confirm leads on from collect, and the conversation is at greet"
    assert flow.path == ()
    assert flow.refusals == {RefusalKey(StepRefusal.ILLEGAL, "greet", "go_to_confirm"): 1}


def test_an_unknown_edge_is_refused_and_counted_without_its_name() -> None:
    flow = TableFlow()
    step = flow.take("go_to_the_moon")
    assert (step.accepted, step.refusal) == (False, StepRefusal.UNKNOWN)
    assert step.reason == "there is no step called go_to_the_moon"
    assert flow.refusals == {RefusalKey(StepRefusal.UNKNOWN, "greet", "unknown"): 1}


def test_a_guard_refusing_returns_its_reason_for_the_model() -> None:
    flow = _at_collect()
    assert flow.set("party_size", 4).accepted
    step = flow.take("go_to_confirm")
    assert (step.accepted, step.refusal, step.reason) == (
        False,
        StepRefusal.GUARDED,
        "still needed: day, time",
    )
    assert flow.take("go_to_events").reason == "the party is not large"
    assert flow.node == "collect"


def test_a_guard_allowing_lets_the_edge_be_taken() -> None:
    flow = _filled(_at_collect())
    assert flow.take("go_to_confirm").node == "confirm"


def test_setting_a_field_validates_it_with_the_data_model() -> None:
    flow = _at_collect()
    refused = flow.set("party_size", 50)
    assert (refused.accepted, refused.refusal) == (False, StepRefusal.INVALID)
    assert refused.reason == "party_size: Input should be less than or equal to 12"
    assert flow.set("time", "eight").reason.startswith("time: String should match pattern")
    assert flow.data.party_size is None
    assert flow.collected == frozenset()
    assert flow.set("party_size", 12).accepted
    # A model validator across fields refuses too, with its own words.
    assert flow.set("day", "Saturday").reason == "Value error, on Saturdays we seat at most 10"
    assert flow.collected == {"party_size"}


def test_a_field_is_set_only_where_it_is_collected() -> None:
    flow = TableFlow()
    step = flow.set("party_size", 4)
    assert (step.accepted, step.refusal) == (False, StepRefusal.ILLEGAL)
    assert step.reason == "party_size is not collected at greet"
    assert flow.set("colour", "blue").refusal is StepRefusal.UNKNOWN


def test_an_automatic_edge_is_taken_when_a_field_set_makes_its_guard_hold() -> None:
    flow = _filled(_at_collect())
    flow.take("go_to_confirm")
    assert flow.set("confirmed", False).changes == ()  # no: stays to hear what changes
    step = flow.set("confirmed", True)
    assert step.accepted
    assert step.node == "email"
    assert [(c.edge, c.by) for c in step.changes] == [("confirmed_yes", "auto")]


def test_an_edge_can_clear_fields_to_collect_them_again() -> None:
    flow = _filled(_at_collect())
    flow.take("go_to_confirm")
    flow.set("confirmed", False)
    flow.take("change_details")
    assert flow.node == "collect"
    assert flow.collected == {"party_size", "day", "time"}
    assert flow.data.confirmed is None


def test_a_tasks_result_is_stored_into_the_fields_it_names() -> None:
    flow = _filled(_at_collect())
    flow.take("go_to_confirm")
    flow.set("confirmed", True)
    assert not flow.store_result(object()).accepted  # no email_address on it
    step = flow.store_result(EmailResult("ada@example.com"))
    assert step.accepted
    assert flow.data.email == "ada@example.com"
    assert (flow.node, flow.is_finished) == ("goodbye", True)  # its automatic edge
    assert flow.take("skip_email").refusal is StepRefusal.FINISHED


def test_a_code_only_edge_is_refused_to_the_model() -> None:
    flow = _filled(_at_collect())
    flow.take("go_to_confirm")
    flow.set("confirmed", True)
    refused = flow.take("skip_email", by="model")
    assert (refused.refusal, refused.reason) == (
        StepRefusal.ILLEGAL,
        "skip_email is taken by the agent's code",
    )
    assert flow.take("skip_email").node == "goodbye"


def fragile(data: Size) -> bool:
    return 10 / (data.size or 0) > 1  # raises until a size is collected


class Fragile(Flow[Size]):
    ask = Node(collects=("size",))
    done = Node(final=True)
    go_on = ask.to(done, when=fragile)


def test_a_guard_that_raises_is_a_refusal_not_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = Fragile()
    step = flow.take("go_on")
    assert (step.accepted, step.refusal, step.reason) == (
        False,
        StepRefusal.FAILED,
        "the check fragile failed",
    )
    assert "flow guard raised" in caplog.text
    flow.set("size", 2)
    assert flow.take("go_on").node == "done"


def test_listeners_hear_every_change_in_order_even_one_made_by_a_listener() -> None:
    flow = _filled(_at_collect())
    heard: list[tuple[str, str]] = []

    def first(change: NodeChange) -> None:
        heard.append(("first", change.edge))
        if change.dest == "confirm":
            flow.set("confirmed", True)  # moves on at once, from inside a listener

    flow.subscribe(first)
    flow.subscribe(lambda change: heard.append(("second", change.edge)))
    flow.take("go_to_confirm")
    assert heard == [
        ("first", "go_to_confirm"),
        ("second", "go_to_confirm"),
        ("first", "confirmed_yes"),
        ("second", "confirmed_yes"),
    ]


def test_a_listener_that_raises_is_dropped_and_the_flow_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = TableFlow()
    calls: list[str] = []

    def broken(change: NodeChange) -> None:
        calls.append(change.edge)
        raise RuntimeError

    flow.subscribe(broken)
    assert flow.take("go_to_collect").accepted
    _filled(flow)
    flow.take("go_to_confirm")
    assert calls == ["go_to_collect"]
    assert "flow listener failed; removed" in caplog.text


def test_a_change_carries_the_dwell_in_the_node_left_and_the_data_as_json() -> None:
    ticks = itertools.count(start=100.0, step=2.5)
    flow = TableFlow(clock=lambda: next(ticks))
    [change] = flow.take("go_to_collect").changes
    assert change.dwell_s == 2.5
    _filled(flow)
    [change] = flow.take("go_to_confirm").changes
    assert change.data == {"party_size": 4, "day": "Friday", "time": "20:00"}
    assert change.as_json()["dwell_s"] == 2.5
    assert flow.dwell() == {"greet": 2.5, "collect": 2.5, "confirm": 2.5}
