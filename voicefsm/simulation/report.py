"""How ``voicefsm simulate`` shows its results to a person."""

from __future__ import annotations

import json
import sqlite3
import statistics
from pathlib import Path
from typing import Any

from voicefsm.errors import OutboxError
from voicefsm.ids import SessionId
from voicefsm.lifecycle import TimelineEntry
from voicefsm.persistence.spool import Spool
from voicefsm.simulation.expectations import check
from voicefsm.simulation.harness import SessionRun


def transition_line(room: str, entry: TimelineEntry) -> str:
    return (
        f"{entry.t:7.2f}s  {room}  {entry.source.value:<15} --{entry.trigger.value}--> "
        f"{entry.dest.value}  (turn {entry.turn})"
    )


def summary(sessions: list[dict[str, Any]], backend_url: str | None) -> str:
    lines = [""]
    for session in sessions:
        if "session_id" not in session:
            lines.append(f"{session['room']}: did not start")
            continue
        outbox = session["outbox"]
        e2e = [t["e2e_latency_s"] for t in session["latencies"] if t["e2e_latency_s"] is not None]
        timed = e2e and session.get("clock") != "fast"  # a fast clock has no latency to tell
        latency = (
            f", median end-to-end latency {statistics.median(e2e) * 1000:.0f} ms" if timed else ""
        )
        lines.append(
            f"session {session['session_id']} (conversation {session['conversation_id']}): "
            f"{session['final_state']} after {session['end_reason']}, "
            f"{len(session['history'])} messages{latency}"
        )
        for item in session["history"]:
            cut = " [interrupted]" if item["interrupted"] else ""
            lines.append(f"    {item['role']:>9}: {item['text']}{cut}")
        for call in session.get("tools", ()):
            lines.append(
                f"    tool call: {call['name']} (turn {call['turn']}): {call['outcome']}, "
                f"{call['duration_s'] * 1000:.0f} ms"
            )
        counters = session.get("counters", {})
        if counters.get("app_events"):
            lines.append(f"    application events written: {counters['app_events']}")
        hooks = counters.get("hooks") or {}
        if hooks:
            lines.append(
                "    hooks: " + ", ".join(f"{count} {outcome}" for outcome, count in hooks.items())
            )
        lines.append(
            f"    outbox: {outbox['spooled']} spooled, {outbox['delivered']} delivered, "
            f"{outbox['pending']} pending"
            + (f", {outbox['refused']} refused (spool full)" if outbox["refused"] else "")
            + (f", {outbox['dead']} refused by the backend" if outbox.get("dead") else "")
            + (
                f", {outbox['unspooled']} sent without the spool ({outbox['lost']} lost)"
                if outbox.get("unspooled")
                else ""
            )
        )
        if session["stuck"]:
            lines.append("    the simulated user gave up waiting: the session did not progress")
        for expectation in session.get("expectations", ()):
            mark = "ok  " if expectation["ok"] else "FAILED"
            lines.append(f"    expect {mark} {expectation['expect']}")
            if not expectation["ok"] and expectation.get("failure"):
                lines.append(f"           {expectation['failure']}")
            elif expectation.get("reason"):
                lines.append(f"           judge: {expectation['reason']}")
    target = backend_url or "no backend (writes stay spooled)"
    lines.append(f"backend: {target}")
    return "\n".join(lines)


def _pending(spool_path: Path, session_id: str) -> int:
    if not spool_path.exists():
        return 0
    try:
        spool = Spool(spool_path, readonly=True)
    except (OutboxError, sqlite3.Error, OSError):  # unusable: the outbox went without it
        return 0
    try:
        return spool.count_pending(SessionId(session_id))
    finally:
        spool.close()


def _arguments(text: str) -> object:
    """A tool call's arguments as the model sent them: JSON when they are JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def session_report(run: SessionRun, spool_path: Path) -> dict[str, Any]:
    """One session's report, as ``simulate --json`` prints it."""
    session = run.session
    about = {"scenario": run.label, "duration_s": round(run.duration_s, 3)}
    if session is None:
        return {"room": run.room, "final_state": "not started", "stuck": True, **about}
    session_id = session.session_id
    lifecycle, record = session.lifecycle, session.record
    stats = run.outbox
    pending = _pending(spool_path, session_id)
    submitted = stats.submitted if stats else 0
    spooled = stats.spooled if stats else 0
    # Refused for good by the backend: still in the spool (dead), never delivered.
    dead = stats.dead if stats else 0
    unspooled, lost = (stats.unspooled, stats.lost) if stats else (0, 0)
    report: dict[str, Any] = {
        **about,
        "session_id": session_id,
        "conversation_id": session.conversation_id,
        "final_state": lifecycle.state.value,
        "end_reason": lifecycle.end_reason.value if lifecycle.end_reason else None,
        "stuck": run.user_stuck,
        "timeline": [entry.as_json() for entry in lifecycle.timeline],
        #: The flows' node changes, on the timeline's clock.
        "nodes": [entry.as_json() for entry in session.flows.entries],
        #: Where each flow is now: node, data, path.
        "flows": [summary.model_dump(mode="json") for summary in session.flows.summaries()],
        "resumed_from": [{"role": item.role.value, "text": item.text} for item in record.prior],
        "history": [
            {"role": item.role.value, "text": item.text, "interrupted": item.interrupted}
            for item in record.history
        ],
        "outbox": {
            "spooled": spooled,
            # Unspooled writes (the spool could not take them) went directly, or were lost.
            "delivered": max(0, spooled + unspooled - lost - pending - dead),
            "pending": pending,
            "dead": dead,
            "refused": stats.refused if stats else 0,
            **({"unspooled": unspooled, "lost": lost} if unspooled else {}),
        },
        "writes_submitted": submitted,
        "latencies": [
            {
                "turn": latency.turn,
                "e2e_latency_s": latency.e2e_latency_s,
                "llm_ttft_s": latency.llm_ttft_s,
                "tts_ttfb_s": latency.tts_ttfb_s,
            }
            for latency in sorted(session.latencies.values(), key=lambda item: item.turn)
        ],
        "refused_triggers": sum(lifecycle.refusals.values()),
        "counters": record.counters.as_json(),
        "tools": [
            {
                "name": call.name,
                "turn": call.turn,
                "outcome": call.outcome.value,
                "duration_s": round(call.duration_s, 3),
                "arguments": _arguments(call.arguments),
                "result": call.result,
            }
            for call in record.tool_calls
        ],
    }
    if run.caller is not None:
        report["caller"] = run.caller.as_json()
    report["expectations"] = check(run.scenario, report) if run.scenario is not None else []
    return report
