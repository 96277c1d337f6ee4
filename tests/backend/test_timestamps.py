"""Timestamps keep their instant: an offset sent is the same moment read back, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.backend.test_server import post_events


def event_at(key: str, at: str) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "session_id": "s1",
        "at": at,
        "kind": "message",
        "role": "user",
        "text": key,
        "turn": 1,
    }


def test_an_offset_is_stored_as_the_same_instant_and_sorts_by_it(http: httpx.Client) -> None:
    """10:00+09:00 is 01:00Z: it comes back as such, before an event at 02:00Z."""
    batch = [
        event_at("s1:tokyo", "2026-01-01T10:00:00+09:00"),
        event_at("s1:utc", "2026-01-01T02:00:00Z"),
    ]
    assert post_events(http, list(reversed(batch))).status_code == 200
    response = http.get("/api/v1/conversations/c1/messages")
    messages = response.json()["messages"]
    assert [m["id"] for m in messages] == ["s1:tokyo", "s1:utc"]
    instants = [datetime.fromisoformat(m["at"]) for m in messages]
    assert instants == [datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)]
    assert all(at.utcoffset() is not None for at in instants)


def test_an_instant_that_would_leave_the_calendar_in_utc_is_refused_not_a_500(
    http: httpx.Client,
) -> None:
    """0001-01-01T00:00+01:00 is in the year 0 in UTC: no database here stores it. The contract
    refuses the calendar's first and last day (its schema says so) with a 422."""
    for key, at in (
        ("s1:first", "0001-01-01T00:00:00+01:00"),
        ("s1:last", "9999-12-31T23:00:00-02:00"),
    ):
        response = post_events(http, [event_at(key, at)])
        assert response.status_code == 422
        assert "cannot be stored" in response.text
    assert http.get("/api/v1/conversations/c1/messages").json()["messages"] == []
