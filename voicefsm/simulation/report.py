"""How ``voicefsm simulate`` shows its results to a person."""

from __future__ import annotations

import statistics
from typing import Any

from voicefsm.lifecycle import TimelineEntry


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
        latency = (
            f", median end-to-end latency {statistics.median(e2e) * 1000:.0f} ms" if e2e else ""
        )
        lines.append(
            f"session {session['session_id']} (conversation {session['conversation_id']}): "
            f"{session['final_state']} after {session['end_reason']}, "
            f"{len(session['history'])} messages{latency}"
        )
        for item in session["history"]:
            cut = " [interrupted]" if item["interrupted"] else ""
            lines.append(f"    {item['role']:>9}: {item['text']}{cut}")
        lines.append(
            f"    outbox: {outbox['spooled']} spooled, {outbox['delivered']} delivered, "
            f"{outbox['pending']} pending"
            + (f", {outbox['refused']} refused (spool full)" if outbox["refused"] else "")
            + (f", {outbox['dead']} refused by the backend" if outbox.get("dead") else "")
        )
        if session["stuck"]:
            lines.append("    the simulated user gave up waiting: the session did not progress")
    target = backend_url or "no backend (writes stay spooled)"
    lines.append(f"backend: {target}")
    return "\n".join(lines)
