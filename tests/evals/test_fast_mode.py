"""``simulate --fast``: the same call as in real time (lifecycle, history, tools, end, the rows
the backend stores), on a clock that does not wait; what only real time can show is refused."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trials.support import Backend
from voicefsm.backend.server.runner import running_backend
from voicefsm.examples.bistro import BistroAgent
from voicefsm.settings import load_settings
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import load_scenario, parse_scenario

pytestmark = pytest.mark.slow


def _same(text: str) -> str:
    """A text with what differs on every run (the booking reference) blanked."""
    return re.sub(r"\bB\d{4}\b", "B####", text)


def stored_rows(database: Path, session_id: str) -> dict[str, Any]:
    with sqlite3.connect(database) as db:
        rows = [
            (kind, json.loads(payload))
            for kind, payload in db.execute(
                "SELECT kind, payload FROM events WHERE session_id = ? ORDER BY id", (session_id,)
            )
        ]
        (summary,) = db.execute(
            "SELECT summary FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
    messages = sorted((p for k, p in rows if k == "message"), key=lambda p: p["idempotency_key"])
    return {
        "kinds": Counter(kind for kind, _ in rows),
        "messages": [
            (p["role"], p["turn"], p["interrupted"], p["interrupted"] or _same(p["text"]))
            for p in messages
        ],
        "transcriptions": sorted(p["text"] for k, p in rows if k == "transcription"),
        "speeches": Counter(p["source"] for k, p in rows if k == "speech"),
        "tools": [
            (p["name"], p["turn"], json.loads(p["arguments"]), p["outcome"])
            for k, p in rows
            if k == "tool_call"
        ],
        "apps": [(p["name"], _same(json.dumps(p["data"]))) for k, p in rows if k == "app"],
        "end": json.loads(summary)["end_reason"],
    }


async def test_the_example_in_fast_mode_is_the_same_call_as_in_real_time(
    tmp_path: Path, backend: Backend
) -> None:
    scenario = load_scenario(None)
    # The clocks are compared, not the deadlines: on a loaded machine the real-time farewell
    # (about 3 s of audio) could outlast its default 4 s deadline and be cut.
    roomy = {"farewell_deadline_s": 20.0}
    real = load_settings(spool_path=tmp_path / "real.sqlite3", backend_url=backend.url, **roomy)
    [slow] = (await simulate(scenario, real, agent=BistroAgent)).sessions
    fast_db = tmp_path / "fast-backend.sqlite3"
    with running_backend(f"sqlite:///{fast_db}") as url:
        settings = load_settings(spool_path=tmp_path / "fast.sqlite3", backend_url=url, **roomy)
        [quick] = (await simulate(scenario, settings, agent=BistroAgent, fast=True)).sessions

    for session in (slow, quick):
        assert all(e["ok"] for e in session["expectations"]), session["expectations"]
        assert session["outbox"]["pending"] == 0
    assert (quick["clock"], slow["clock"]) == ("fast", "real time")
    # The same lifecycle: the barge-in in turn 2, the agent's own end. (Not every entry: in
    # real time on a loaded machine a reply's end and the agent's hang-up may come in either
    # order, and the reply is then recorded as said after the turn moved on.)
    for session in (slow, quick):
        steps = [(e["from"], e["trigger"], e["to"], e["turn"]) for e in session["timeline"]]
        assert ("speaking", "interrupted", "listening", 2) in steps
        ending = [step[1] for step in steps if step[2] in ("persisting", "exiting")]
        assert [trigger for trigger in ending if trigger != "spoke"] == [
            "end_call",
            "persisted",
        ]
    assert quick["end_reason"] == slow["end_reason"] == "end_call"
    # The same tools, with the same arguments, ending the same way, in the same turns.
    assert [(t["name"], t["turn"], t["arguments"], t["outcome"]) for t in quick["tools"]] == [
        (t["name"], t["turn"], t["arguments"], t["outcome"]) for t in slow["tools"]
    ]
    # The same history. Of the reply the caller cut off, each clock kept the words heard
    # by the barge-in: a beginning of the same reply (real time paces the words as livekit's
    # transcript synchroniser estimates them; fast mode in proportion to the audio).
    assert len(quick["history"]) == len(slow["history"]) == 12
    for fast_item, slow_item in zip(quick["history"], slow["history"], strict=True):
        assert (fast_item["role"], fast_item["interrupted"]) == (
            slow_item["role"],
            slow_item["interrupted"],
        )
        if fast_item["interrupted"]:
            reply = "Friday at eight for four people: shall I book it?"
            assert fast_item["text"]
            assert slow_item["text"]
            assert reply.startswith(fast_item["text"])
            assert reply.startswith(slow_item["text"])
        else:
            assert _same(fast_item["text"]) == _same(slow_item["text"])
    # The backend stored the same rows for both.
    assert stored_rows(fast_db, quick["session_id"]) == stored_rows(
        backend.database, slow["session_id"]
    )


def test_a_pause_only_real_time_can_show_is_refused_in_fast_mode(tmp_path: Path) -> None:
    path = tmp_path / "silent.yaml"
    path.write_text("turns:\n  - user: Hello\n  - user: Are you there\n    pause_ms: 45000\n")
    parse_scenario(path.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "voicefsm", "simulate", "--fast", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VOICEFSM_SILENCE_TIMEOUT_S": "30"},
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"voicefsm simulate: {path}: turn 2: pause_ms 45000 reaches the silence timeout (30 s), "
        "which only real time can show: run it without --fast\n"
    )
