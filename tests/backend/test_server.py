"""The reference backend, over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.backend.conftest import TOKEN
from voicefsm.context import parse_room_metadata

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def message(key: str, text: str, *, seconds: int = 0, role: str = "user") -> dict[str, object]:
    return {
        "idempotency_key": key,
        "session_id": "s1",
        "at": (T0 + timedelta(seconds=seconds)).isoformat(),
        "kind": "message",
        "role": role,
        "text": text,
        "turn": seconds,
    }


def post_events(
    http: httpx.Client, events: list[dict[str, object]], conv: str = "c1"
) -> httpx.Response:
    return http.post(f"/api/v1/conversations/{conv}/events", json={"events": events})


def texts(http: httpx.Client, conv: str = "c1", limit: int = 200) -> list[str]:
    response = http.get(f"/api/v1/conversations/{conv}/messages", params={"limit": limit})
    assert response.status_code == 200
    return [m["text"] for m in response.json()["messages"]]


def test_health_answers_without_auth(secured_backend_url: str) -> None:
    response = httpx.get(f"{secured_backend_url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_replayed_batch_is_applied_once(http: httpx.Client) -> None:
    batch = [message("s1:1", "hello", seconds=1), message("s1:2", "again", seconds=2)]
    first = post_events(http, batch)
    replay = post_events(http, batch)
    assert (first.status_code, first.json()) == (200, {"accepted": 2, "duplicates": 0})
    assert (replay.status_code, replay.json()) == (200, {"accepted": 0, "duplicates": 2})
    assert texts(http) == ["hello", "again"]


def test_a_key_reused_with_another_payload_is_refused_and_the_batch_rolled_back(
    http: httpx.Client,
) -> None:
    post_events(http, [message("s1:1", "hello")])
    response = post_events(http, [message("s1:2", "new"), message("s1:1", "changed")])
    assert response.status_code == 422
    assert response.json()["keys"] == ["s1:1"]
    assert texts(http) == ["hello"]  # neither the change nor its batch-mate was written


def test_the_same_key_twice_in_one_batch_is_one_event(http: httpx.Client) -> None:
    response = post_events(http, [message("s1:1", "hi"), message("s1:1", "hi")])
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert post_events(http, [message("s1:9", "a"), message("s1:9", "b")]).status_code == 422


def test_a_key_cannot_move_to_another_conversation(http: httpx.Client) -> None:
    post_events(http, [message("s1:1", "hello")], conv="c1")
    assert post_events(http, [message("s1:1", "hello")], conv="c2").status_code == 422
    assert texts(http, "c2") == []


def test_messages_come_oldest_first_and_limit_keeps_the_latest(http: httpx.Client) -> None:
    # Delivered out of order (a retried batch arrives late): order follows the time said.
    post_events(http, [message("s1:3", "third", seconds=3)])
    post_events(http, [message("s1:1", "first", seconds=1), message("s1:2", "second", seconds=2)])
    assert texts(http) == ["first", "second", "third"]
    assert texts(http, limit=2) == ["second", "third"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"events": []}', "empty batch"),
        (b'{"events": [{"kind": "message"}]}', "missing fields"),
        (json.dumps({"events": [message("k", "x") | {"turn": "one"}]}).encode(), "wrong type"),
        (json.dumps({"events": [message("k", "x") | {"surprise": 1}]}).encode(), "unknown field"),
        (json.dumps({"events": [message("k", "x") | {"kind": "telepathy"}]}).encode(), "kind"),
        (json.dumps({"events": [message("", "x")]}).encode(), "empty key"),
        (
            json.dumps({"events": [message("k", "x") | {"at": "2026-11-01T09:00:00"}]}).encode(),
            "naive time",
        ),
        (json.dumps({"events": [message("k", "x" * 20_001)]}).encode(), "text too long"),
    ],
)
def test_malformed_bodies_are_422_and_write_nothing(
    http: httpx.Client, body: bytes, why: str
) -> None:
    response = http.post(
        "/api/v1/conversations/c1/events",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, why
    assert texts(http) == []


def test_an_oversized_body_is_413(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/conversations/c1/events",
        content=b"x" * (2 * 1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_an_invalid_conversation_id_is_422(http: httpx.Client) -> None:
    assert post_events(http, [message("k", "x")], conv="bad id!").status_code == 422


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", f"Bearer {TOKEN}x"])
def test_without_the_right_token_every_api_call_is_401(
    secured_backend_url: str, header: str | None
) -> None:
    headers = {"authorization": header} if header else {}
    with httpx.Client(base_url=secured_backend_url, headers=headers) as http:
        assert post_events(http, [message("s1:1", "hi")]).status_code == 401
        assert http.get("/api/v1/conversations/c1/messages").status_code == 401
        assert http.post("/api/v1/rooms", json={"name": "r"}).status_code == 401
    with httpx.Client(
        base_url=secured_backend_url, headers={"authorization": f"Bearer {TOKEN}"}
    ) as http:
        assert texts(http) == []  # nothing was written by the refused calls


def test_the_right_token_is_let_in(secured_backend_url: str) -> None:
    with httpx.Client(
        base_url=secured_backend_url, headers={"authorization": f"Bearer {TOKEN}"}
    ) as http:
        assert post_events(http, [message("s1:1", "hi")]).status_code == 200
        assert texts(http) == ["hi"]


def test_a_room_gets_one_conversation_whose_metadata_the_worker_reads(http: httpx.Client) -> None:
    first = http.post("/api/v1/rooms", json={"name": "support-42", "metadata": {"language": "en"}})
    again = http.post("/api/v1/rooms", json={"name": "support-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["conversation_id"] == again.json()["conversation_id"]
    parsed = parse_room_metadata(first.json()["room_metadata"])
    assert parsed.problem is None
    assert parsed.value.conversation_id == first.json()["conversation_id"]
    assert parsed.value.agent.language == "en"
    assert first.json()["livekit_room_created"] is False


def test_a_returning_caller_gets_their_own_conversation_back_in_any_room(
    http: httpx.Client,
) -> None:
    first = http.post("/api/v1/callers/conversation", json={"key": "+15550100"})
    again = http.post("/api/v1/callers/conversation", json={"key": "+15550100"})
    other = http.post("/api/v1/callers/conversation", json={"key": "u_42"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["created"] is True
    assert again.json() == {
        "conversation_id": first.json()["conversation_id"],
        "created": False,
        "held": True,
    }
    assert other.json()["conversation_id"] != first.json()["conversation_id"]
    # A caller's key never becomes a room: the rooms keep their own conversations.
    room = http.post("/api/v1/rooms", json={"name": "caller-15550100"})
    assert room.json()["conversation_id"] not in {first.json()["conversation_id"]}


@pytest.mark.parametrize("key", ["", "a\u0000b", "x" * 257])
def test_a_caller_key_that_cannot_be_stored_is_refused(http: httpx.Client, key: str) -> None:
    assert http.post("/api/v1/callers/conversation", json={"key": key}).status_code == 422


def test_room_metadata_over_the_worker_limit_is_refused(http: httpx.Client) -> None:
    response = http.post("/api/v1/rooms", json={"name": "r", "metadata": {"greeting": "x" * 5000}})
    assert response.status_code == 422


def test_session_summary_is_stored_then_replaced(http: httpx.Client) -> None:
    summary = {
        "session_id": "s1",
        "conversation_id": "c1",
        "started_at": T0.isoformat(),
        "ended_at": (T0 + timedelta(seconds=30)).isoformat(),
        "duration_s": 30.0,
        "end_reason": "hang_up",
        "messages": [{"role": "user", "text": "hi", "turn": 1}],
        "timeline": [
            {"t": 0.1, "from": "joining", "to": "loading_context", "trigger": "joined", "turn": 0}
        ],
    }
    assert http.put("/api/v1/sessions/s1", json=summary).status_code == 201
    assert http.put("/api/v1/sessions/s1", json=summary).status_code == 200
    assert http.put("/api/v1/sessions/s2", json=summary).status_code == 422
    assert (
        http.put("/api/v1/sessions/s1", json=summary | {"end_reason": "bored"}).status_code == 422
    )


def test_context_finds_earlier_messages_sharing_a_word(http: httpx.Client) -> None:
    post_events(
        http,
        [
            message("s1:1", "My booking is for Friday", seconds=1),
            message("s1:2", "Unrelated chatter", seconds=2),
            message("s1:3", "100%_sure", seconds=3),
        ],
    )
    found = http.post("/api/v1/conversations/c1/context", json={"text": "Which booking?"})
    assert found.json() == {"snippets": ["My booking is for Friday"]}
    # LIKE wildcards in the user's text are matched literally.
    wild = http.post("/api/v1/conversations/c1/context", json={"text": "____ %%%%"})
    assert wild.json() == {"snippets": []}


def test_concurrent_replays_apply_each_event_once(http: httpx.Client, backend_url: str) -> None:
    batch = [message(f"s1:{i}", f"m{i}", seconds=i) for i in range(20)]
    results: list[dict[str, int]] = []

    def send() -> None:
        with httpx.Client(base_url=backend_url, timeout=10) as own:
            results.append(post_events(own, batch).json())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["accepted"] for r in results) == 20
    assert texts(http) == [f"m{i}" for i in range(20)]
