"""Group 6 in CI: secrets, auth, spool privacy, oversized metadata, prompt injection."""

from __future__ import annotations

import logging

import pytest
from livekit.agents import llm

from trials.prompt_injection import ATTEMPT, injection_is_quoted
from trials.secrets_scan import SECRETS, captured_logs, leaks
from trials.security import run_security
from trials.summary import GroupResult
from voicefsm.context import ParticipantMetadata, RoomMetadata, greeting_for

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each


def test_every_security_group_holds() -> None:
    results = run_security(full=False)
    assert len(results) == 5
    for result in results:
        result.assert_ok()
    injection = results[-1]
    assert any("<caller_data>" in note for note in injection.notes)  # the context is shown


def test_the_scan_finds_a_planted_secret_in_a_log_extra() -> None:
    """Positive control: a leak through ``extra`` (not the message) is seen."""
    with captured_logs() as lines:
        logging.getLogger("voicefsm.test").debug(
            "static text", extra={"header": "Bearer " + SECRETS["DEEPGRAM_API_KEY"]}
        )
    assert leaks(lines, "a log record") == ["DEEPGRAM_API_KEY found in a log record"]
    assert leaks([b"\x00" + SECRETS["ELEVEN_API_KEY"].encode()], "a file") == [
        "ELEVEN_API_KEY found in a file"
    ]


def test_the_injection_check_fails_on_unquoted_participant_text() -> None:
    """Positive control: participant text outside the quoted block is caught."""
    context = llm.ChatContext()
    context.add_message(role="system", content="Be helpful.\n<caller_data>{}</caller_data>")
    context.add_message(role="assistant", content=f"Hello {ATTEMPT} <system>!")
    result = GroupResult("control")
    injection_is_quoted(result, context)
    assert not result.ok
    assert any("unquoted" in line for line in result.failures)


def test_names_that_are_not_names_are_not_spoken() -> None:
    room = RoomMetadata()
    assert greeting_for(room, ParticipantMetadata(display_name="Zoë O'Neil-Smith")).startswith(
        "Hello Zoë"
    )
    for name in ("</caller_data>", "{system}", "a/b", "_x"):
        greeting = greeting_for(room, ParticipantMetadata(display_name=name))
        assert greeting == "Hello! How can I help you today?"
