"""FlowHarness walks a flow as the model and the agent's code would, with no model."""

from __future__ import annotations

import pytest

from tests.flows.tables import EmailResult, TableFlow
from voicefsm.flows import StepRefusal
from voicefsm.testing import FlowHarness


def test_a_flow_is_walked_by_tool_calls_and_the_model_reads_what_they_answer() -> None:
    harness = FlowHarness(TableFlow)
    assert harness.tools == ["go_to_collect", "hang_up"]
    assert harness.call("go_to_collect") == "Done. The conversation is now at collect."
    assert harness.tools == [
        "go_to_confirm",
        "go_to_events",
        "set_party_size",
        "set_day",
        "set_time",
        "check_availability",
        "hang_up",
    ]
    assert harness.call("set_party_size", party_size=50).startswith("Not done: party_size")
    assert harness.last is not None
    assert harness.last.refusal is StepRefusal.INVALID
    harness.call("set_party_size", party_size=4)
    harness.call("set_day", day="Friday")
    harness.call("set_time", time="20:00")
    harness.call("go_to_confirm")
    assert (
        harness.call("set_confirmed", confirmed=True) == "Done. The conversation is now at email."
    )
    assert harness.complete_task(EmailResult("ada@example.com")).accepted
    assert harness.node == "goodbye"
    assert harness.path == ["go_to_collect", "go_to_confirm", "confirmed_yes", "email_given"]
    assert [c.by for c in harness.changes] == ["model", "model", "auto", "auto"]
    assert harness.data.email == "ada@example.com"


def test_a_harness_starts_where_a_test_needs_it() -> None:
    harness = FlowHarness(TableFlow, at="collect", data={"party_size": 9})
    assert harness.collected == {"party_size"}
    assert harness.call("go_to_events") == (
        "Done. The conversation is now at events. The conversation is complete."
    )
    assert harness.handoff == "EventsDesk"


def test_a_tool_the_node_does_not_offer_is_a_test_error_naming_those_it_does() -> None:
    harness = FlowHarness(TableFlow)
    with pytest.raises(KeyError, match="greet offers no generated tool 'set_day'"):
        harness.call("set_day", day="Friday")


def test_code_moves_the_flow_through_the_harness_too() -> None:
    harness = FlowHarness(TableFlow)
    steps = harness.walk("go_to_collect", "go_to_confirm")
    assert [s.accepted for s in steps] == [True, False]
    assert harness.set("party_size", 3).accepted
    assert harness.data.party_size == 3
