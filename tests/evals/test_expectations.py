"""What a scenario may expect, and how a run is held against it: tools with arguments (over the
call and per turn), the end, phrases, a model-played caller's goal. Failures name the tool and
the turn."""

from __future__ import annotations

from typing import Any

import pytest

from voicefsm.simulation.expectations import check, difference, first_failure
from voicefsm.simulation.scenario import ScenarioError, ToolExpectation, parse_scenario


def tool(
    name: str, turn: int, outcome: str = "ok", result: str = "", **arguments: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "turn": turn,
        "outcome": outcome,
        "arguments": arguments,
        "result": result,
    }


def report(*tools: dict[str, Any], end: str = "hang_up") -> dict[str, Any]:
    return {
        "tools": list(tools),
        "end_reason": end,
        "history": [{"role": "assistant", "text": "Booked for Friday.", "interrupted": False}],
    }


BOOKING = """
turns:
  - user: Hi
  - user: Book Friday at eight for five
    expect: {tools: [{name: book_table, arguments: {people: 5}}]}
  - user: Thanks
    expect: {tools: []}
expect:
  tools: [{name: book_table, arguments: {day: Friday}}, hang_up]
  end_reason: end_call
"""


def test_a_tool_named_alone_and_one_with_arguments_are_both_expectations() -> None:
    scenario = parse_scenario(BOOKING)
    assert scenario.expect is not None
    assert scenario.expect.tools is not None
    assert [str(item) for item in scenario.expect.tools] == ['book_table(day="Friday")', "hang_up"]
    assert scenario.turns[1].expect is not None
    assert scenario.turns[1].expect.tools == [
        ToolExpectation(name="book_table", arguments={"people": 5})
    ]


def test_arguments_match_partially_and_each_difference_is_named() -> None:
    wanted = ToolExpectation(name="book_table", arguments={"people": 5})
    assert difference(wanted, tool("book_table", 2, people=5, day="Friday")) is None
    assert difference(wanted, tool("book_table", 2, people=4)) == (
        "book_table got people 4, expected 5"
    )
    assert difference(wanted, tool("book_table", 2, day="Friday")) == (
        "book_table was called without people"
    )
    assert difference(wanted, tool("cancel", 2)) == "the model called cancel"
    ended = ToolExpectation(name="book_table", outcome="ok", output="reference")
    assert (
        difference(ended, tool("book_table", 2, "error")) == "book_table ended error, expected ok"
    )
    assert difference(ended, tool("book_table", 2, result="Booked, reference B1")) is None


def test_a_run_that_called_what_was_expected_passes_every_check() -> None:
    scenario = parse_scenario(BOOKING)
    run = report(
        tool("book_table", 2, people=5, day="Friday", time="20:00"),
        tool("hang_up", 3),
        end="end_call",
    )
    run["tools"][1]["turn"] = 4  # hang_up in a turn without per-turn expectations
    checks = check(scenario, run)
    assert [c["ok"] for c in checks] == [True, True, True, True]
    assert first_failure(checks) is None


def test_other_arguments_fail_naming_the_tool_and_the_turn() -> None:
    scenario = parse_scenario(BOOKING)
    checks = check(scenario, report(tool("book_table", 2, people=4, day="Friday"), end="end_call"))
    failures = [c["failure"] for c in checks if not c["ok"]]
    assert failures == [
        "hang_up was not called (the model called book_table)",
        'turn 2 ("Book Friday at eight for five"): expected book_table(people=5); '
        "book_table got people 4, expected 5",
    ]


def test_a_tool_not_called_or_called_where_none_was_expected_is_named() -> None:
    scenario = parse_scenario(BOOKING)
    checks = check(scenario, report(tool("hang_up", 3), end="hang_up"))
    failures = [c["failure"] for c in checks if not c["ok"]]
    assert failures == [
        'turn 3: expected book_table(day="Friday"); the model called hang_up',
        'turn 2 ("Book Friday at eight for five"): book_table was not called '
        "(the model called no tool)",
        'turn 3 ("Thanks"): hang_up was called, not expected',
        "the call ended hang_up",
    ]


def test_phrases_and_a_model_callers_goal_are_checked() -> None:
    scenario = parse_scenario(
        "caller: {persona: Ada, goal: a table}\nexpect: {says: [friday, Saturday]}"
    )
    run = report() | {"caller": {"goal_reached": False, "reason": "no goal reached in 10 turns"}}
    checks = check(scenario, run)
    assert [(c["expect"], c["ok"]) for c in checks] == [
        ("says 'friday'", True),
        ("says 'Saturday'", False),
        ("the caller reaches their goal", False),
    ]
    assert checks[-1]["failure"] == "no goal reached in 10 turns"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("end: hang_up", "give the caller's `turns`, or a `caller` for a model to play"),
        (
            "turns: [{user: hi}]\ncaller: {persona: Ada, goal: a table}",
            "give `turns` or a `caller`, not both",
        ),
        ("caller: {persona: Ada, goal: a table, max_turns: 0}", "caller.max_turns"),
        ("turns: [{user: hi}]\nexpect: {judge: ['']}", "expect.judge.0"),
        (
            "turns: [{user: hi, expect: {tools: [{name: 'bad name'}]}}]",
            "turns.0.expect.tools.0.name",
        ),
    ],
)
def test_a_scenario_that_cannot_run_is_refused_saying_where(text: str, reason: str) -> None:
    with pytest.raises(ScenarioError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_scenario(text)
