"""One returning caller in two rooms at once (``VOICEFSM_RETURNING_CALLERS=user_id``): the two
live calls never share a history; the call after them resumes the caller's conversation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trials.support import Backend
from voicefsm.settings import load_settings
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario


def _sessions_of(backend: Backend, conversation: str) -> set[str]:
    with sqlite3.connect(backend.database) as db:
        rows = db.execute(
            "SELECT DISTINCT session_id FROM events WHERE conversation_id = ? AND kind = 'message'",
            (conversation,),
        )
        return {session for (session,) in rows}


async def test_two_live_calls_of_one_caller_never_interleave_and_the_next_call_resumes(
    tmp_path: Path, backend: Backend
) -> None:
    # The lookup's deadline is generous: a loaded test machine must not turn a slow answer into
    # the degraded path (a fresh conversation), which is not what this test is about.
    settings = load_settings(
        spool_path=tmp_path / "spool.sqlite3",
        backend_url=backend.url,
        returning_callers="user_id",
        history_deadline_s=15.0,
    )
    ada = {"participant_metadata": {"user_id": "u_42", "display_name": "Ada"}}
    both = Scenario.model_validate(
        {**ada, "turns": [{"user": "Is the terrace open"}, {"user": "And for six people"}]}
    )
    first, second = (await simulate(both, settings, room_names=["desk-a", "desk-b"])).sessions
    assert first["conversation_id"] != second["conversation_id"]
    for call in (first, second):
        # Each conversation holds one call's messages: none of the other's in between.
        assert _sessions_of(backend, str(call["conversation_id"])) == {call["session_id"]}

    later = Scenario.model_validate({**ada, "turns": [{"user": "It is me again"}]})
    [again] = (await simulate(later, settings, room_names=["desk-c"])).sessions
    triggers = [entry["trigger"] for entry in again["timeline"]]
    assert triggers[:2] == ["joined", "resumed"]  # the caller's conversation, no greeting
    assert again["conversation_id"] in {first["conversation_id"], second["conversation_id"]}
