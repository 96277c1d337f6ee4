"""A flow from a YAML file is the same flow, checked the same way, and its mistakes are named
by file, line, node and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.tables import over_eight
from voicefsm.errors import FlowDefinitionError
from voicefsm.flows import ContextPolicy
from voicefsm.flows.file_schema import flow_file_schema
from voicefsm.flows.files import load_flow
from voicefsm.testing import FlowHarness

BOOKING = """\
flow: PhoneBooking
data:
  party_size: {type: integer, minimum: 1, maximum: 12, description: How many people}
  day: {enum: [Friday, Saturday]}
  confirmed: {type: boolean}
common_tools: [hang_up]
nodes:
  collect:
    instructions: Ask how many people are coming, and which day.
    collects: [party_size, day]
    tools: [check_availability]
    edges:
      go_to_confirm: {to: confirm, requires: [party_size, day]}
      large_party: {to: events, when: "tests.flows.tables:over_eight"}
  confirm:
    instructions: Read it back.
    collects: [confirmed]
    context: summarise
    edges:
      confirmed_yes: {to: done, equals: {confirmed: true}, auto: true}
      change: {to: collect, clears: [confirmed]}
  events: {agent: events_desk, final: true}
  done: {instructions: Thank the caller., final: true}
"""


def _file(tmp_path: Path, text: str, name: str = "booking.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(path, references={"events_desk": object})
    return caught.value.problems


def test_a_flow_file_is_a_flow_like_any_other(tmp_path: Path) -> None:
    flow = load_flow(_file(tmp_path, BOOKING), references={"events_desk": object})
    definition = flow.definition
    assert definition.name == "PhoneBooking"
    assert [n.name for n in definition.nodes] == ["collect", "confirm", "events", "done"]
    assert definition.node("confirm").context is ContextPolicy.SUMMARISE
    assert definition.node("events").agent_label == "object"
    assert definition.common_tools == ("hang_up",)
    assert definition.edge("large_party").label == "over_eight"
    assert definition.edge("large_party").guards[0].check is not None

    harness = FlowHarness(flow)
    assert harness.call("set_party_size", party_size=13) == (
        "Not done: party_size: Input should be less than or equal to 12."
    )
    assert harness.call("set_day", day="Sunday").startswith("Not done: day: Input should be")
    harness.call("set_party_size", party_size=9)
    harness.call("set_day", day="Friday")
    assert harness.call("go_to_confirm") == "Done. The conversation is now at confirm."
    assert (
        harness.call("set_confirmed", confirmed=True)
        == "Done. The conversation is now at done. The conversation is complete."
    )
    assert over_eight(harness.data)  # the file's model is a real pydantic model


def test_a_misspelt_key_is_named_with_its_file_line_and_place(tmp_path: Path) -> None:
    path = _file(
        tmp_path, BOOKING.replace("requires: [party_size, day]", "requirs: [party_size, day]")
    )
    assert _problems(path) == (
        f"{path}:13: nodes.collect.edges.go_to_confirm.requirs: unknown key 'requirs'",
    )


def test_wrong_types_and_missing_keys_are_all_named_at_once(tmp_path: Path) -> None:
    text = BOOKING.replace("context: summarise", "context: forget").replace(
        "go_to_confirm: {to: confirm, requires: [party_size, day]}",
        "go_to_confirm: {requires: [party_size]}",
    )
    problems = _problems(_file(tmp_path, text))
    assert len(problems) == 2
    assert "booking.yaml:13: nodes.collect.edges.go_to_confirm.to: Field required" in problems[0]
    assert (
        "booking.yaml:18: nodes.confirm.context: Input should be 'keep', 'reset' or 'summarise'"
        in problems[1]
    )


def test_graph_mistakes_are_named_with_file_line_node_and_edge(tmp_path: Path) -> None:
    text = BOOKING.replace("{to: confirm, requires", "{to: confrim, requires")
    path = _file(tmp_path, text)
    assert _problems(path) == (
        f"{path}:13: node collect, edge go_to_confirm: goes to confrim, which is not a node of this flow",
        f"{path}:15: node confirm: unreachable from collect",
        f"{path}:23: node done: unreachable from collect",
    )


def test_a_key_written_twice_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    path = _file(tmp_path, BOOKING + "  done: {final: true}\n")
    assert _problems(path) == (f"{path}:24: the key 'done' is written twice",)


def test_references_that_do_not_resolve_are_all_listed(tmp_path: Path) -> None:
    text = BOOKING.replace('"tests.flows.tables:over_eight"', '"tests.flows.tables:no_such_guard"')
    path = _file(tmp_path, text)
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(path)
    assert caught.value.problems == (
        f"{path}:14: nodes.collect.edges.large_party.when: tests.flows.tables:no_such_guard: "
        "cannot import it (AttributeError: module 'tests.flows.tables' has no attribute 'no_such_guard')",
        f"{path}:22: nodes.events.agent: events_desk: neither a name given in references nor module:attribute",
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("nodes: [a, b]\n", "nodes: Input should be a valid dictionary"),
        ("flow: x\nnodes: {a: {final: true}}\n  bad: [\n", "not valid YAML"),
        (
            "data: {size: {type: integer, enum: [a]}}\nnodes: {a: {final: true, collects: [size]}}\n",
            "give a field either a type or an enum",
        ),
        ("", "the file: Input should be a valid dictionary"),
    ],
)
def test_files_that_are_not_flows_are_one_clear_error(
    tmp_path: Path, content: str, problem: str
) -> None:
    [found] = _problems(_file(tmp_path, content))
    assert problem in found
    assert found.startswith(str(tmp_path / "booking.yaml"))


def test_a_file_that_cannot_be_read_is_a_definition_error(tmp_path: Path) -> None:
    [found] = _problems(tmp_path / "absent.yaml")
    assert found.startswith(f"{tmp_path / 'absent.yaml'}: cannot read it")


def test_the_files_schema_exports_as_json_schema_for_editors() -> None:
    schema = flow_file_schema()
    assert schema["required"] == ["nodes"]
    assert schema["additionalProperties"] is False
    assert "EdgeFile" in schema["$defs"]
