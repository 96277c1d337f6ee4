"""A run of many scenarios, summed up: one table for a person, JUnit XML for a CI system.

Each session is ``passed``, ``failed`` (with its first failed expectation, or why the session
itself failed) or ``not run`` (the run was stopped before it started)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from voicefsm.simulation.expectations import first_failure
from voicefsm.simulation.runner import passed

#: What XML 1.0 cannot carry (control characters but tab and newlines, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def outcome(session: dict[str, Any]) -> tuple[str, str | None]:
    """``(result, why)``: why a failed session failed, in one line."""
    state = session.get("final_state")
    if state == "not run":
        return "not run", "the run was stopped first"
    if passed(session):
        return "passed", None
    return "failed", first_failure(session.get("expectations", ())) or _broken(session)


def _broken(session: dict[str, Any]) -> str:
    """Why a session that met its expectations still failed."""
    state = session.get("final_state")
    if state == "not started":
        return "the session did not start (see the log)"
    if state != "exiting":
        return f"the session did not end (stopped in {state})"
    if session.get("stuck"):
        return "the caller gave up waiting: the session did not progress"
    return f"the backend refused {session['outbox']['dead']} of its writes"


def table(sessions: Sequence[dict[str, Any]], total_s: float) -> str:
    """One line per session: scenario, result, duration, failed expectation; then the totals."""
    rows = [(s["scenario"], *outcome(s), s.get("duration_s", 0.0)) for s in sessions]
    width = min(60, max([len("scenario"), *(len(row[0]) for row in rows)]))
    lines = [f"{'scenario':<{width}}  {'result':<7}  {'duration':>8}  failed expectation"]
    for label, result, why, duration in rows:
        shown = label if len(label) <= width else "…" + label[-(width - 1) :]
        mark = "FAILED" if result == "failed" else result
        lines.append(f"{shown:<{width}}  {mark:<7}  {duration:7.1f}s  {why or ''}".rstrip())
    counts = {kind: sum(1 for row in rows if row[1] == kind) for kind in ("passed", "failed")}
    skipped = len(rows) - counts["passed"] - counts["failed"]
    lines.append(
        f"{len(rows)} sessions: {counts['passed']} passed, {counts['failed']} failed"
        + (f", {skipped} not run" if skipped else "")
        + f" ({total_s:.1f} s)"
    )
    return "\n".join(lines)


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _transcript(session: dict[str, Any]) -> str:
    lines = [
        f"{item['role']}: {item['text']}" + (" [interrupted]" if item["interrupted"] else "")
        for item in session.get("history", ())
    ]
    lines += [
        f"tool {call['name']} (turn {call['turn']}): {call['outcome']}"
        for call in session.get("tools", ())
    ]
    lines += [
        ("ok      " if item["ok"] else "FAILED  ") + str(item["expect"])
        for item in session.get("expectations", ())
    ]
    return "\n".join(lines)


def junit_xml(sessions: Sequence[dict[str, Any]], total_s: float) -> bytes:
    """JUnit XML: a test case per session (named by its scenario), failures with what failed."""
    outcomes = [outcome(session) for session in sessions]
    failures = sum(1 for result, _ in outcomes if result == "failed")
    skipped = sum(1 for result, _ in outcomes if result == "not run")
    counts = {"tests": str(len(sessions)), "failures": str(failures), "errors": "0"}
    about = {"name": "voicefsm simulate", "time": f"{total_s:.3f}", **counts}
    root = ET.Element("testsuites", attrib=about)
    suite = ET.SubElement(root, "testsuite", attrib={**about, "skipped": str(skipped)})
    for session, (result, why) in zip(sessions, outcomes, strict=True):
        case = ET.SubElement(
            suite,
            "testcase",
            attrib={
                "classname": "voicefsm.simulate",
                "name": _clean(str(session["scenario"])),
                "time": f"{session.get('duration_s', 0.0):.3f}",
            },
        )
        if result == "failed":
            failed = [e for e in session.get("expectations", ()) if not e["ok"]]
            detail = "\n".join(str(e.get("failure") or e["expect"]) for e in failed) or why or ""
            failure = ET.SubElement(case, "failure", message=_clean(why or ""), type="failed")
            failure.text = _clean(detail)
        elif result == "not run":
            ET.SubElement(case, "skipped", message=_clean(why or ""))
        out = ET.SubElement(case, "system-out")
        out.text = _clean(_transcript(session))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
