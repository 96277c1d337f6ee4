"""The production worker path (unregistered AgentServer, simulate_job, mock room) end to end,
and a restarted agent resuming the same conversation."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trials.support import Backend, free_port
from voicefsm.cli import main
from voicefsm.settings import load_settings
from voicefsm.simulation.harness import SimulationPlumbing
from voicefsm.simulation.rooms import SimulatedRooms
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario, Turn, parse_scenario

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each

TWO_TURNS = [
    Turn(user="Do you deliver on weekends", pause_ms=100),
    Turn(user="Great thanks", pause_ms=100),
]


def stored(backend: Backend, conversation_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(backend.database) as db:
        return list(
            db.execute(
                "SELECT role, text FROM events WHERE conversation_id = ? AND kind = 'message' ORDER BY at, id",
                (conversation_id,),
            )
        )


def simulate_cli(
    tmp_path: Path, scenario: Path, backend: Backend
) -> subprocess.CompletedProcess[str]:
    """``voicefsm simulate --scenario … --json`` as a user runs it, spool in ``tmp_path``."""
    command = ["simulate", "--scenario", str(scenario), "--json", "--backend-url", backend.url]
    return subprocess.run(
        [sys.executable, "-m", "voicefsm", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "VOICEFSM_SPOOL_PATH": str(tmp_path / "spool.sqlite3"),
            "HOME": str(tmp_path),
        },
        check=False,
    )


async def test_a_simulated_job_runs_the_whole_lifecycle_and_persists_every_turn(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    scenario = Scenario(
        participant_metadata={"user_id": "u_7", "display_name": "Grace"}, turns=TWO_TURNS
    )
    result = await simulate(scenario, settings, sessions=2)

    assert result.ok
    for session in result.sessions:
        assert session["final_state"] == "exiting"
        assert session["timeline"][0]["from"] == "joining"
        assert session["history"][0]["text"] == "Hello Grace! How can I help you today?"
        # The conversation was created through POST /api/v1/rooms, as in production.
        assert session["conversation_id"].startswith("c_")
        assert stored(backend, session["conversation_id"]) == [
            (m["role"], m["text"]) for m in session["history"]
        ]
        assert session["outbox"]["pending"] == 0
        assert session["outbox"]["delivered"] == session["outbox"]["spooled"] > 0
        assert [t["turn"] for t in session["latencies"]] == [1, 2]
        # The caller is in the stored summary, as every participant of the room would be.
        summary = backend.session_summary(session["session_id"]) or {}
        [caller] = summary["participants"]  # type: ignore[misc]
        assert (caller["kind"], caller["user_id"], caller["display_name"]) == (
            "standard",
            "u_7",
            "Grace",
        )
        assert caller["joined_at"] <= summary["ended_at"]  # type: ignore[operator]
    assert result.sessions[0]["conversation_id"] != result.sessions[1]["conversation_id"]


async def test_a_restarted_agent_resumes_the_conversation_without_greeting_again(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    first = await simulate(Scenario(turns=TWO_TURNS, end="participant_left"), settings)
    conversation = first.sessions[0]["conversation_id"]

    # A new agent (new server, new session) joins a room carrying the same conversation id.
    again = Scenario(
        room_metadata={"conversation_id": conversation}, turns=[Turn(user="Where was I")]
    )
    second = (await simulate(again, settings)).sessions[0]

    triggers = [entry["trigger"] for entry in second["timeline"]]
    assert triggers[:2] == ["joined", "resumed"]
    assert "greeted" not in triggers
    assert second["conversation_id"] == conversation
    assert second["history"][0]["text"] == "Where was I"
    # The backend holds both sessions' messages, in order, in one conversation.
    first_texts = [m["text"] for m in first.sessions[0]["history"]]
    assert [text for _, text in stored(backend, conversation)][: len(first_texts)] == first_texts


async def test_a_room_without_a_conversation_remembers_the_one_its_first_session_started(
    tmp_path: Path, backend: Backend
) -> None:
    """The first session writes its conversation into the room; the next one resumes it."""
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    rooms = SimulatedRooms()
    rooms.write("line-7", json.dumps({"tenant": "acme"}))  # a frontend's room, no conversation
    call = Scenario(turns=TWO_TURNS, end="participant_left")
    plumbing = SimulationPlumbing(call, rooms)
    first = (await simulate(call, settings, plumbing=plumbing, room_names=["line-7"])).sessions[0]

    conversation = first["conversation_id"]
    # Created through the backend contract (POST /api/v1/rooms), and the room's keys kept.
    with sqlite3.connect(backend.database) as db:
        rows = list(db.execute("SELECT id FROM conversations WHERE room_name = 'line-7'"))
    assert rows == [(conversation,)]
    assert json.loads(rooms.read("line-7") or "") == {
        "tenant": "acme",
        "conversation_id": conversation,
    }

    again = Scenario(turns=[Turn(user="Where was I")])
    plumbing = SimulationPlumbing(again, rooms)
    second = (await simulate(again, settings, plumbing=plumbing, room_names=["line-7"])).sessions[0]

    triggers = [entry["trigger"] for entry in second["timeline"]]
    assert triggers[:2] == ["joined", "resumed"]  # no greeting
    assert second["conversation_id"] == conversation
    resumed = plumbing.runs["line-7"].session
    assert resumed is not None
    assert [m.text for m in resumed.record.prior] == [m["text"] for m in first["history"]]


@pytest.mark.parametrize(
    ("key", "caller"),
    [
        ("sip_phone", {"participant_attributes": {"sip.phoneNumber": "+15550100"}}),
        ("user_id", {"participant_metadata": {"user_id": "u_42"}}),
    ],
)
async def test_a_caller_who_rings_again_into_a_new_room_resumes_their_conversation(
    tmp_path: Path, backend: Backend, key: str, caller: dict[str, object]
) -> None:
    settings = load_settings(
        spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url, returning_callers=key
    )
    call = Scenario.model_validate({**caller, "turns": [{"user": "I need a table for two"}]})
    first = (await simulate(call, settings, room_names=["sip-call-1"])).sessions[0]
    again = Scenario.model_validate({**caller, "turns": [{"user": "It is me again"}]})
    second = (await simulate(again, settings, room_names=["sip-call-2"])).sessions[0]

    assert second["conversation_id"] == first["conversation_id"]
    triggers = [entry["trigger"] for entry in second["timeline"]]
    assert triggers[:2] == ["joined", "resumed"]  # no greeting: the caller is known
    # Someone else calling starts a conversation of their own.
    stranger = Scenario(turns=[Turn(user="Hello")])
    third = (await simulate(stranger, settings, room_names=["sip-call-3"])).sessions[0]
    assert third["conversation_id"] not in {first["conversation_id"]}


def test_the_simulate_command_prints_json_and_honours_the_settings(
    tmp_path: Path, backend: Backend
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("turns:\n  - user: Hello there\n    pause_ms: 50\nend: participant_left\n")
    parse_scenario(scenario.read_text())  # the file is valid
    result = simulate_cli(tmp_path, scenario, backend)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    [session] = document["sessions"]
    assert set(session) >= {
        "session_id",
        "conversation_id",
        "final_state",
        "timeline",
        "history",
        "outbox",
        "latencies",
    }
    assert session["final_state"] == "exiting"
    assert session["end_reason"] == "participant_left"
    assert {"t", "from", "to", "trigger"} <= set(session["timeline"][0])
    assert {"role", "text", "interrupted"} == set(session["history"][0])
    assert (tmp_path / "spool.sqlite3").exists()  # VOICEFSM_SPOOL_PATH was used


async def test_with_the_backend_down_sessions_complete_and_the_spool_keeps_everything(
    tmp_path: Path, backend: Backend
) -> None:
    spool = tmp_path / "spool.sqlite3"
    dead = load_settings(spool_path=spool, backend_url=f"http://127.0.0.1:{free_port()}")
    result = await simulate(Scenario(turns=TWO_TURNS), dead)

    [session] = result.sessions
    assert session["final_state"] == "exiting"
    assert session["outbox"]["pending"] == session["outbox"]["spooled"] > 0
    assert session["outbox"]["delivered"] == 0

    # The rows are bound for the backend they were written for: another one takes them only
    # when the operator moves them (--rebind-from), as when a backend comes back elsewhere.
    drain = ["outbox", "drain", "--spool", str(spool), "--backend-url", backend.url]
    drain += ["--rebind-from", str(dead.backend_url)]
    assert await asyncio.to_thread(main, drain) == 0
    assert stored(backend, session["conversation_id"]) == [
        (m["role"], m["text"]) for m in session["history"]
    ]


async def test_every_event_kind_and_the_summary_reach_the_backend(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    turns = [Turn(user="Hello there", pause_ms=100, llm_fail=1), Turn(user="Bye", pause_ms=100)]
    [session] = (await simulate(Scenario(turns=turns), settings)).sessions

    with sqlite3.connect(backend.database) as db:
        kinds = {
            kind
            for (kind,) in db.execute(
                "SELECT DISTINCT kind FROM events WHERE session_id = ?", (session["session_id"],)
            )
        }
        (summary,) = db.execute(
            "SELECT summary FROM sessions WHERE session_id = ?", (session["session_id"],)
        ).fetchone()
    assert kinds == {"message", "transcription", "speech", "error"}
    summary = json.loads(summary)
    assert summary["end_reason"] == "hang_up"
    assert [m["text"] for m in summary["messages"]] == [m["text"] for m in session["history"]]
    assert summary["messages"][-1]["text"] == "Thanks for calling. Goodbye!"
    assert summary["timeline"][0] == {
        "t": summary["timeline"][0]["t"],
        "from": "joining",
        "to": "loading_context",
        "trigger": "joined",
        "turn": 0,
    }


async def test_a_job_whose_agent_cannot_be_made_ends_the_run_at_once(tmp_path: Path) -> None:
    """An agent factory that raises inside the job is a failed session, reported as not
    started, not a run that waits out its 600 s session timeout."""

    def no_agent() -> object:
        raise RuntimeError("no menu today")

    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    result = await asyncio.wait_for(
        simulate(Scenario(turns=TWO_TURNS), settings, agent=no_agent),  # type: ignore[arg-type]
        timeout=60,
    )
    [session] = result.sessions
    assert session["final_state"] == "not started"
    assert not result.ok


def test_simulate_exits_1_and_names_the_expectation_that_failed(
    tmp_path: Path, backend: Backend
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "turns:\n  - user: Hello there\n    pause_ms: 50\nend: participant_left\n"
        "expect:\n  end_reason: participant_left\n  says: [a phrase nobody says]\n"
    )
    result = simulate_cli(tmp_path, scenario, backend)
    assert result.returncode == 1, result.stderr[-2000:]
    [session] = json.loads(result.stdout)["sessions"]
    assert session["final_state"] == "exiting"  # the call itself went well
    verdicts = {e["expect"]: e["ok"] for e in session["expectations"]}
    assert verdicts == {"end_reason participant_left": True, "says 'a phrase nobody says'": False}
