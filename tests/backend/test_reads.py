"""Reading whole calls back (``voicefsm scenario export`` does): a conversation's stored events
page by page in the order applied, and its sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.backend.test_server import T0, message, post_events
from voicefsm.backend.client import BackendClient
from voicefsm.backend.stored import ConversationSessions, EventsPage
from voicefsm.errors import BackendError


def summary(session: str, start_s: int, end_reason: str) -> dict[str, object]:
    return {
        "session_id": session,
        "conversation_id": "c1",
        "started_at": (T0 + timedelta(seconds=start_s)).isoformat(),
        "ended_at": (T0 + timedelta(seconds=start_s + 30)).isoformat(),
        "duration_s": 30.0,
        "end_reason": end_reason,
        "participants": [
            {"identity": "ada", "kind": "sip", "user_id": "u_1", "joined_at": T0.isoformat()}
        ],
    }


def test_events_come_back_whole_in_the_order_applied_a_page_at_a_time(
    http: httpx.Client,
) -> None:
    post_events(http, [message(f"s1:{i}", f"m{i}", seconds=i) for i in range(5)])
    post_events(http, [message("other:1", "elsewhere")], conv="c2")
    tool = {
        "idempotency_key": "s1:9",
        "session_id": "s1",
        "at": T0.isoformat(),
        "kind": "tool_call",
        "call_id": "call-1",
        "name": "book_table",
        "turn": 2,
        "arguments": '{"people": 5}',
        "result": "Booked.",
        "outcome": "ok",
        "duration_s": 0.01,
    }
    post_events(http, [tool])
    seen: list[dict[str, object]] = []
    after, pages = 0, 0
    while after is not None:
        response = http.get("/api/v1/conversations/c1/events", params={"after": after, "limit": 4})
        assert response.status_code == 200
        page = EventsPage.model_validate_json(response.content)
        seen += [event.payload for event in page.events]
        after, pages = page.next_after, pages + 1
    assert pages == 2
    assert [event["text"] for event in seen[:5]] == [f"m{i}" for i in range(5)]
    assert seen[5] == tool | {"interrupted": False, "at": "2026-11-01T09:00:00Z"}
    unknown = http.get("/api/v1/conversations/nobody/events")
    assert (unknown.status_code, unknown.json()["events"]) == (200, [])


def test_a_conversations_sessions_come_oldest_first_with_how_each_ended(
    http: httpx.Client,
) -> None:
    room = http.post("/api/v1/rooms", json={"name": "line-1", "metadata": {"language": "en"}})
    conversation = room.json()["conversation_id"]
    for session, start, reason in (("s2", 60, "end_call"), ("s1", 0, "hang_up")):
        body = summary(session, start, reason) | {"conversation_id": conversation}
        assert http.put(f"/api/v1/sessions/{session}", json=body).status_code == 201
    response = http.get(f"/api/v1/conversations/{conversation}/sessions")
    found = ConversationSessions.model_validate_json(response.content)
    assert [(s.session_id, s.end_reason) for s in found.sessions] == [
        ("s1", "hang_up"),
        ("s2", "end_call"),
    ]
    assert found.sessions[0].participants[0]["user_id"] == "u_1"
    assert '"language":"en"' in (found.room_metadata or "")
    unknown = http.get("/api/v1/conversations/nobody/sessions").json()
    assert (unknown["sessions"], unknown["room_metadata"]) == ([], None)


async def test_the_client_reads_both_and_says_why_it_could_not(
    backend_url: str,
) -> None:
    with httpx.Client(base_url=backend_url) as http:
        post_events(http, [message("s1:1", "hello")])
    async with httpx.AsyncClient(base_url=backend_url) as http_async:
        client = BackendClient(http_async)
        page = await client.stored_events("c1")
        assert [event.kind for event in page.events] == ["message"]
        assert page.next_after is None
        assert (await client.conversation_sessions("c1")).sessions == []
        with pytest.raises(BackendError) as refused:
            await client.conversation_sessions("not an id")  # a path the API does not serve
        assert refused.value.status == 422
