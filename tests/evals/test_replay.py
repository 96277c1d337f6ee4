"""A stored call becomes a regression test: simulated, stored, exported with
``voicefsm scenario export`` and replayed, it passes; replayed against an agent whose tool was
renamed, it fails and names the turn that differs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trials.support import Backend
from voicefsm.examples import bistro
from voicefsm.simulation.scenario import parse_scenario

pytestmark = pytest.mark.slow


def voicefsm(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicefsm", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PYTHONPATH": str(tmp_path),
            "VOICEFSM_SPOOL_PATH": str(tmp_path / "spool.sqlite3"),
        },
    )


def test_a_stored_call_exported_and_replayed_passes_and_a_renamed_tool_fails_at_its_turn(
    tmp_path: Path, backend: Backend
) -> None:
    original = voicefsm(tmp_path, "simulate", "--fast", "--json", "--backend-url", backend.url)
    assert original.returncode == 0, original.stderr[-3000:]
    [call] = json.loads(original.stdout)["sessions"]

    exported = voicefsm(
        tmp_path, "scenario", "export", call["conversation_id"], "--backend-url", backend.url
    )
    assert exported.returncode == 0, exported.stderr
    scenario = parse_scenario(exported.stdout)
    # The caller's turns as heard, the barge-in where the cut-off reply's words end, the tools
    # the model called with their arguments (scripted and expected), metadata and the end.
    assert [turn.user for turn in scenario.turns] == [
        m["text"] for m in call["history"] if m["role"] == "user"
    ]
    assert scenario.turns[2].interrupt_after_ms is not None
    booking = scenario.turns[3]
    assert [(step.name, step.arguments) for step in booking.tools] == [
        ("book_table", {"day": "Friday", "time": "20:00", "people": 5})
    ]
    assert booking.expect is not None
    assert booking.expect.tools is not None
    assert [(e.name, e.outcome) for e in booking.expect.tools] == [("book_table", "ok")]
    assert scenario.participant_metadata == {"user_id": "u_ada", "display_name": "Ada"}
    assert (scenario.end, scenario.expect and scenario.expect.end_reason) == ("agent", "end_call")
    assert "# book_table ended ok, returned: 'Booked: a table for 5" in exported.stdout
    replay = tmp_path / "call.yaml"
    replay.write_text(exported.stdout)

    again = voicefsm(tmp_path, "simulate", "--fast", "--json", "--scenario", str(replay))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    source = Path(bistro.__file__).read_text()
    renamed = source.replace("def book_table(", "def reserve_table(")
    renamed = renamed.replace('("book_table", "hang_up")', '("reserve_table", "hang_up")')
    (tmp_path / "renamed.py").write_text(renamed)
    changed = voicefsm(
        tmp_path, "simulate", "--fast", "--json", "--scenario", str(replay), "--agent", "renamed.py"
    )
    assert changed.returncode == 1, changed.stderr[-3000:]
    [session] = json.loads(changed.stdout)["sessions"]
    failures = [e["failure"] for e in session["expectations"] if not e["ok"]]
    assert failures[0] == (
        'turn 4 ("Yes please book it"): expected book_table(day="Friday", time="20:00", '
        'people=5, outcome ok); book_table ended error, expected ok ("Unknown function: '
        "book_table - available tools: set_party_size, set_day, set_time, reserve_table, "
        'hang_up")'
    )
    # Nothing booked, the flow stays at confirm: the next step the call took is refused too.
    [after] = failures[1:]
    assert after.startswith('turn 5 ("Thank you, that is all"): expected nothing_else(')


def test_exporting_a_conversation_that_is_not_there_says_so(
    tmp_path: Path, backend: Backend
) -> None:
    missing = voicefsm(tmp_path, "scenario", "export", "c_nobody", "--backend-url", backend.url)
    assert missing.returncode == 2
    assert (
        missing.stderr == f"voicefsm scenario export: {backend.url}: no session of conversation "
        "c_nobody is stored there (a session's summary is written when it ends)\n"
    )
    bad = voicefsm(tmp_path, "scenario", "export", "../etc", "--backend-url", backend.url)
    assert bad.returncode == 2
    assert "CONVERSATION_ID is not an id" in bad.stderr
    assert yaml.safe_load(missing.stdout or "null") is None
