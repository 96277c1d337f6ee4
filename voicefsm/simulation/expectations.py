"""A scenario's expectations, held against what its session did.

Each check is one entry of the report: what was expected, whether it held, what was seen, and
when it failed, ``failure``: one line naming the tool and the turn that differ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from voicefsm.simulation.scenario import Scenario, ToolExpectation

Check = dict[str, Any]


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _arguments(call: dict[str, Any]) -> dict[str, Any] | None:
    arguments = call.get("arguments")
    return arguments if isinstance(arguments, dict) else None


def difference(expected: ToolExpectation, call: dict[str, Any]) -> str | None:
    """How ``call`` (a report's tool entry) differs from ``expected``; ``None`` if it does not."""
    if call["name"] != expected.name:
        return f"the model called {call['name']}"
    given = _arguments(call)
    for key, wanted in (expected.arguments or {}).items():
        if given is None or key not in given:
            return f"{expected.name} was called without {key}"
        if given[key] != wanted:
            return f"{expected.name} got {key} {_shown(given[key])}, expected {_shown(wanted)}"
    if expected.outcome is not None and call["outcome"] != expected.outcome:
        said = f" ({_shown(call['result'][:120])})" if call["result"] else ""
        return f"{expected.name} ended {call['outcome']}, expected {expected.outcome}{said}"
    if expected.output is not None and expected.output.lower() not in call["result"].lower():
        return f"{expected.name} returned {_shown(call['result'][:200])}"
    return None


def _sequence(
    expected: Sequence[ToolExpectation], calls: Sequence[dict[str, Any]], where: str | None
) -> str | None:
    """The first way ``calls`` differ from ``expected``, in order; ``where`` starts the line
    (``None``: the turn of the call that differs)."""

    def at(call: dict[str, Any]) -> str:
        return where if where is not None else f"turn {call['turn']}: "

    for index, wanted in enumerate(expected):
        if index >= len(calls):
            called = ", ".join(call["name"] for call in calls) or "no tool"
            return f"{where or ''}{wanted.name} was not called (the model called {called})"
        call = calls[index]
        found = difference(wanted, call)
        if found is not None:
            return f"{at(call)}expected {wanted}; {found}"
    if len(calls) > len(expected):
        extra = calls[len(expected)]
        return f"{at(extra)}{extra['name']} was called, not expected"
    return None


def _tools(expected: Sequence[ToolExpectation]) -> str:
    return "[" + ", ".join(str(item) for item in expected) + "]"


def check(scenario: Scenario, report: dict[str, Any]) -> list[Check]:
    """Each expectation of ``scenario`` (over the call, then per turn), against ``report``."""
    results: list[Check] = []
    calls = report.get("tools", [])
    expect = scenario.expect
    if expect is not None and expect.tools is not None:
        failure = _sequence(expect.tools, calls, None)
        results.append(
            {
                "expect": f"tools {_tools(expect.tools)}",
                "ok": failure is None,
                "seen": [call["name"] for call in calls],
                **({"failure": failure} if failure else {}),
            }
        )
    for number, turn in enumerate(scenario.turns, start=1):
        if turn.expect is None or turn.expect.tools is None:
            continue
        mine = [call for call in calls if call["turn"] == number]
        failure = _sequence(turn.expect.tools, mine, f'turn {number} ("{turn.user[:60]}"): ')
        results.append(
            {
                "expect": f"turn {number} tools {_tools(turn.expect.tools)}",
                "ok": failure is None,
                "seen": [call["name"] for call in mine],
                **({"failure": failure} if failure else {}),
            }
        )
    if expect is not None and expect.end_reason is not None:
        ok = report["end_reason"] == expect.end_reason
        results.append(
            {
                "expect": f"end_reason {expect.end_reason}",
                "ok": ok,
                "seen": report["end_reason"],
                **({} if ok else {"failure": f"the call ended {report['end_reason']}"}),
            }
        )
    said = " ".join(m["text"] for m in report["history"] if m["role"] == "assistant").lower()
    for phrase in expect.says if expect is not None else ():
        ok = phrase.lower() in said
        results.append(
            {
                "expect": f"says {phrase!r}",
                "ok": ok,
                "seen": None,
                **({} if ok else {"failure": f"the agent never said {phrase!r}"}),
            }
        )
    if expect is not None and expect.nodes:
        results.append(_nodes(expect.nodes, report.get("nodes", [])))
    caller = report.get("caller")
    if scenario.caller is not None and caller is not None:
        results.append(
            {
                "expect": "the caller reaches their goal",
                "ok": caller["goal_reached"],
                "seen": caller["reason"],
                **({} if caller["goal_reached"] else {"failure": caller["reason"]}),
            }
        )
    return results


def passed_nodes(nodes: Sequence[dict[str, Any]]) -> list[str]:
    """The nodes a call passed through, in order: each flow's first node, then each entered."""
    passed: list[str] = []
    seen: set[str] = set()
    for change in nodes:
        if change["flow"] not in seen:
            seen.add(change["flow"])
            passed.append(change["from"])
        passed.append(change["to"])
    return passed


def _nodes(expected: Sequence[str], nodes: Sequence[dict[str, Any]]) -> Check:
    passed = passed_nodes(nodes)
    failure = None
    position = 0
    for wanted in expected:
        try:
            position = passed.index(wanted, position) + 1
        except ValueError:
            after = f" after {passed[position - 1]}" if position else ""
            route = " -> ".join(passed) or "no node change"
            failure = f"the call never reached node {wanted}{after} (it went {route})"
            break
    return {
        "expect": f"nodes [{', '.join(expected)}]",
        "ok": failure is None,
        "seen": passed,
        **({"failure": failure} if failure else {}),
    }


def judged(statement: str, verdict: str, reason: str) -> Check:
    """A judged statement's entry: it holds when the judge's verdict is ``pass``."""
    ok = verdict == "pass"
    return {
        "expect": f"judge {statement!r}",
        "ok": ok,
        "seen": verdict,
        "reason": reason,
        **({} if ok else {"failure": f"judged {verdict}: {reason}"}),
    }


def first_failure(checks: Sequence[Check]) -> str | None:
    """The first failed expectation, in one line (for the summary table)."""
    for item in checks:
        if not item["ok"]:
            return str(item.get("failure") or item["expect"])
    return None
