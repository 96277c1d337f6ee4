"""Group 5 in CI: each hostile-input family at its small size, plus the bugs it found."""

from __future__ import annotations

import httpx
import pytest

from trials import hostile
from trials.hostile_api import fuzz_backend_api
from trials.hostile_sessions import fuzz_chat_text
from trials.summary import GroupResult
from trials.support import Backend
from trials.trial import explore
from voicefsm.backend.models import SessionSummary
from voicefsm.context import parse_room_metadata
from voicefsm.engine.session_record import SessionRecord
from voicefsm.lifecycle import EndReason
from voicefsm.simulation.scenario import ScenarioError, parse_scenario

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each


@pytest.mark.parametrize(
    "family",
    [hostile.fuzz_metadata, hostile.fuzz_scenarios, fuzz_chat_text, fuzz_backend_api],
    ids=["metadata", "scenario files", "chat text", "backend API"],
)
def test_each_family_survives_its_hostile_inputs(family: object) -> None:
    result: GroupResult = family(full=False)  # type: ignore[operator]
    result.assert_ok()
    assert result.inputs > 20


def test_a_broken_property_is_reported_not_raised() -> None:
    """The runner itself: a failing check is counted and listed, a crash counted as a crash."""
    result = GroupResult("control")

    def check(value: int) -> None:
        assert value != 3, "three"
        if value == 4:
            raise ValueError

    from hypothesis import strategies as st  # noqa: PLC0415

    explore(result, st.sampled_from([1, 3, 4]), check, examples=20, what="n")
    assert result.crashes >= 1
    assert any("three" in line for line in result.failures)
    assert not result.ok


@pytest.mark.parametrize("conversation_id", [".", ".."])
def test_conversation_ids_of_dots_are_refused_they_would_change_the_url(
    conversation_id: str,
) -> None:
    assert httpx.URL(f"http://h/api/v1/conversations/{conversation_id}/events").path != (
        f"/api/v1/conversations/{conversation_id}/events"
    )
    assert parse_room_metadata(f'{{"conversation_id": "{conversation_id}"}}').value == (
        parse_room_metadata("{}").value
    )


def test_yaml_aliases_are_refused_before_they_can_expand() -> None:
    with pytest.raises(ScenarioError, match="aliases"):
        parse_scenario(hostile._billion_laughs(9))


def test_a_summary_with_an_over_long_message_stays_valid() -> None:
    from voicefsm.lifecycle import Utterance  # noqa: PLC0415

    state = SessionRecord("s_1", "c_1")
    state.append(Utterance("user", "x" * 25_000 + "\x00", 1, False))
    summary = state.summary(EndReason.HANG_UP)
    assert len(summary.messages[0].text) == 20_000
    SessionSummary.model_validate_json(summary.model_dump_json(by_alias=True))


def test_a_nul_in_text_is_a_422_not_a_500(backend: Backend) -> None:
    body = (
        '{"events":[{"kind":"message","idempotency_key":"k","session_id":"s","at":'
        '"2026-01-01T00:00:00Z","role":"user","text":"a\\u0000b","turn":1}]}'
    )
    response = httpx.post(
        f"{backend.url}/api/v1/conversations/c_1/events",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "input" not in response.json()["detail"][0]  # the rejected input is not echoed
    assert backend.stored_keys() == []
