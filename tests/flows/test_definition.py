"""A flow is checked when its class is created: one error, naming every node at fault."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from tests.flows.tables import Booking, TableFlow
from voicefsm.errors import FlowDefinitionError, FlowError, VoiceFsmError
from voicefsm.flows import ContextPolicy, Flow, NoData, Node
from voicefsm.flows.validation import RESERVED


class Size(BaseModel):
    size: int | None = None


def _problems(build: Any) -> tuple[str, ...]:
    with pytest.raises(FlowDefinitionError) as caught:
        build()
    return caught.value.problems


def test_a_sound_flow_becomes_its_definition() -> None:
    definition = TableFlow.definition
    assert definition.name == "TableFlow"
    assert definition.data_model is Booking
    assert [n.name for n in definition.nodes][:3] == ["greet", "collect", "confirm"]
    assert definition.initial == "greet"
    assert definition.node("confirm").context is ContextPolicy.RESET
    assert definition.node("email").gathers == ("email",)
    assert [e.name for e in definition.edges_from("confirm")] == ["confirmed_yes", "change_details"]
    assert definition.edge("go_to_confirm").label == "requires party_size, day, time"
    assert definition.edge("confirmed_yes").label == "confirmed = true"
    assert definition.edge("go_to_events").label == "is_large_party"


def test_an_unreachable_node_is_refused_by_name() -> None:
    def build() -> None:
        class Lost(Flow[Size]):
            ask = Node(collects=("size",))
            done = Node(final=True)
            island = Node(final=True)
            finish = ask.to(done)

    assert _problems(build) == ("node island: unreachable from ask",)


def test_an_edge_to_a_missing_node_is_refused_naming_node_and_edge() -> None:
    def build() -> None:
        class Typo(Flow[Size]):
            ask = Node(collects=("size",))
            done = Node(final=True)
            finish = ask.to(done)
            back = ask.to("dnoe")

    assert _problems(build) == (
        "node ask, edge back: goes to dnoe, which is not a node of this flow",
    )


def test_an_edge_to_another_flows_node_is_refused() -> None:
    def build() -> None:
        class Borrowing(Flow[NoData]):
            ask = Node()
            done = Node(final=True)
            finish = ask.to(done)
            stray = ask.to(TableFlow.goodbye)

    [problem] = _problems(build)
    assert problem.startswith("node ask, edge stray: goes to goodbye, which is not a node")


def test_a_dead_end_that_is_not_final_is_refused() -> None:
    def build() -> None:
        class Stuck(Flow[Size]):
            ask = Node(collects=("size",))
            wait = Node("Wait forever.")
            go_on = ask.to(wait)

    assert _problems(build) == ("node wait: a dead end (no edge out, and not final)",)


def test_a_field_collected_nowhere_is_refused() -> None:
    def build() -> None:
        class Forgetful(Flow[Booking]):
            ask = Node(collects=("party_size", "day", "time"))
            done = Node(final=True)
            finish = ask.to(done)

    assert _problems(build) == (
        "field confirmed: collected nowhere (no node collects it)",
        "field email: collected nowhere (no node collects it)",
    )


def test_every_problem_is_reported_at_once_and_the_error_is_a_voicefsm_error() -> None:
    with pytest.raises(FlowDefinitionError) as caught:

        class Messy(Flow[Size]):
            ask = Node(collects=("size", "colour"))
            wait = Node()
            done = Node(final=True)
            go_on = ask.to(wait)
            after_end = done.to(ask)

    error = caught.value
    assert isinstance(error, FlowError)
    assert isinstance(error, VoiceFsmError)
    assert error.flow == "Messy"
    assert error.problems == (
        "node ask: collects colour, which is not a field of the data",
        "node wait: a dead end (no edge out, and not final)",
        "node done: is final, but has edges out (after_end)",
        "node done: unreachable from ask",
    )
    assert str(error).startswith("flow Messy: 4 problems:\n  - node ask: collects colour")


def test_names_that_clash_are_refused() -> None:
    def build() -> None:
        class Clash(Flow[Size]):
            ask = Node(collects=("size",), tools=("set_size",))
            data = Node(final=True)
            go_on = ask.to(data)

    assert _problems(build) == (
        "node data: the name is taken by the flow itself; choose another",
        "node ask: offers two tools named set_size",
    )


def test_one_node_under_two_names_is_refused() -> None:
    def build() -> None:
        class Twice(Flow[NoData]):
            ask = Node()
            done = Node(final=True)
            again = done
            finish = ask.to(done)

    assert "node done: also declared as again (one node, one name)" in _problems(build)


def test_declarations_that_contradict_themselves_are_refused() -> None:
    def build() -> None:
        class Contradictions(Flow[Size]):
            ask = Node(collects=("size",), initial=True)
            other = Node(initial=True, final=True)
            away = Node(agent=object)
            done = Node(final=True)
            to_other = ask.to(other)
            hand_off = ask.to(away, when=lambda data: True)
            auto_bare = ask.to(done, auto=True)
            away_and_back = away.to(done, requires=("size",))

    problems = _problems(build)
    assert "nodes ask, other: only one node can be initial" in problems
    assert (
        "node ask, edge hand_off: its guard is a lambda or has no name: give it a def, "
        "its name labels the edge"
    ) in problems
    assert "node away: hands the call to another agent, so it must be final" in problems
    assert "node ask, edge auto_bare: automatic, so it needs a guard" in problems


def test_a_guard_over_another_model_or_with_two_arguments_is_refused() -> None:
    def on_booking(data: Booking) -> bool:
        return True

    def two(data: Size, more: int) -> bool:
        return True

    def build() -> None:
        class Mistyped(Flow[Size]):
            ask = Node(collects=("size",))
            done = Node(final=True)
            one = ask.to(done, when=on_booking)
            other = ask.to(done, when=two)

    assert _problems(build) == (
        "node ask, edge one: its guard on_booking takes Booking, whose fields party_size, day, "
        "time, confirmed, email the flow's data (Size) does not have",
        "node ask, edge other: its guard two must take one argument, the flow's data",
    )


def test_data_without_defaults_is_refused() -> None:
    class Strict(BaseModel):
        size: int

    def build() -> None:
        class Eager(Flow[Strict]):
            ask = Node(collects=("size",), final=True)

    assert _problems(build) == (
        "field size of Strict: needs a default (the value before it is collected, usually None)",
    )


def test_a_task_or_handoff_cannot_be_where_a_flow_starts() -> None:
    def build() -> None:
        class Straight(Flow[NoData]):
            away = Node(agent=object, final=True)

    assert _problems(build) == (
        "node away: the first node cannot run a task or hand off; enter it by an edge",
    )


def test_a_base_without_nodes_is_not_checked_and_cannot_run() -> None:
    class Base(Flow[Size]):
        pass

    with pytest.raises(TypeError, match="declares no node"):
        Base()

    class Concrete(Base):
        ask = Node(collects=("size",), final=True)

    assert Concrete().data == Size()


def test_reserved_names_cover_every_public_attribute_of_a_running_flow() -> None:
    public = {name for name in dir(TableFlow()) if not name.startswith("_")}
    declared = {n.name for n in TableFlow.definition.nodes} | {
        e.name for e in TableFlow.definition.edges
    }
    assert public - declared <= RESERVED
