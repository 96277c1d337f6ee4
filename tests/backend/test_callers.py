"""Returning callers on the real reference backend (SQLite and PostgreSQL): a keyed digest,
never a bare SHA-256 a dictionary of phone numbers reverses; one live call at a time on a
caller's conversation, and the next call (after an end or a crash) resumes it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backend.conftest import CALLER_SECRET
from voicefsm.backend.server.callers import CallerKeys
from voicefsm.backend.server.db import async_url
from voicefsm.backend.server.runner import running_backend

PHONE = "+15550100"


def caller(http: httpx.Client, session: str | None, lease_s: float = 60.0) -> dict[str, object]:
    body: dict[str, object] = {"key": PHONE, "lease_s": lease_s}
    if session is not None:
        body["session_id"] = session
    response = http.post("/api/v1/callers/conversation", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def summary(http: httpx.Client, session: str, conversation: str) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
    response = http.put(
        f"/api/v1/sessions/{session}",
        json={
            "session_id": session,
            "conversation_id": conversation,
            "started_at": at,
            "ended_at": at,
            "duration_s": 1.0,
            "end_reason": "hang_up",
        },
    )
    assert response.status_code in (200, 201), response.text


def rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    """Run ``sql`` on the backend's database (in a transaction); its rows, if any."""

    async def run() -> list[tuple[object, ...]]:
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.begin() as db:
                result = await db.execute(text(sql))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_second_live_call_of_the_same_caller_gets_a_conversation_of_its_own(
    http: httpx.Client,
) -> None:
    first = caller(http, "s-room-a")
    second = caller(http, "s-room-b")
    assert (first["held"], second["held"]) == (True, False)
    assert second["conversation_id"] != first["conversation_id"]
    # Asking again (a retry, a renewal) changes nothing for either call.
    assert caller(http, "s-room-b") == second | {"created": False}
    assert caller(http, "s-room-a") == first | {"created": False}


def test_the_call_after_the_first_ended_resumes_the_callers_conversation(
    http: httpx.Client,
) -> None:
    first = caller(http, "s-1")
    caller(http, "s-2")  # while the first is live: a conversation of its own
    summary(http, "s-1", str(first["conversation_id"]))  # the first call ended
    again = caller(http, "s-3")
    assert (again["conversation_id"], again["held"]) == (first["conversation_id"], True)


def test_a_crashed_calls_hold_runs_out_and_the_call_back_resumes(http: httpx.Client) -> None:
    crashed = caller(http, "s-crashed", lease_s=0.3)  # never renewed, no summary: a crash
    time.sleep(0.6)  # the lease, not the test, is the clock: it has run out by now
    back = caller(http, "s-back")
    assert (back["conversation_id"], back["held"]) == (crashed["conversation_id"], True)


def test_an_older_client_without_a_session_gets_the_callers_conversation(
    http: httpx.Client,
) -> None:
    held = caller(http, "s-live")
    assert caller(http, None)["conversation_id"] == held["conversation_id"]


@pytest.fixture
def keyed(database_url: str) -> Iterator[tuple[httpx.Client, str]]:
    with (
        running_backend(database_url, caller_secret=CALLER_SECRET) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        yield http, database_url


def test_only_a_keyed_digest_of_the_caller_is_stored(keyed: tuple[httpx.Client, str]) -> None:
    http, database_url = keyed
    caller(http, "s-1")
    names = {name for (name,) in rows(database_url, "SELECT room_name FROM conversations")}
    secret = CALLER_SECRET.get_secret_value().encode()
    expected = "caller:" + hmac.new(secret, PHONE.encode(), hashlib.sha256).hexdigest()
    assert names == {expected}
    assert "caller:" + hashlib.sha256(PHONE.encode()).hexdigest() not in names  # no bare digest
    assert PHONE not in str(rows(database_url, "SELECT * FROM conversations"))


def test_a_caller_stored_under_a_bare_sha256_moves_to_the_keyed_digest_on_their_next_call(
    database_url: str,
) -> None:
    legacy = "caller:" + hashlib.sha256(PHONE.encode()).hexdigest()
    with running_backend(database_url, caller_secret=CALLER_SECRET):  # makes the schema
        pass
    insert = "INSERT INTO conversations (id, room_name, created_at) VALUES ('c_old', '%s', %s)"
    rows(database_url, insert % (legacy, "CURRENT_TIMESTAMP"))
    with (
        running_backend(database_url, caller_secret=CALLER_SECRET) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        found = caller(http, "s-1")
    assert (found["conversation_id"], found["created"]) == ("c_old", False)
    names = {name for (name,) in rows(database_url, "SELECT room_name FROM conversations")}
    assert names == {CallerKeys(CALLER_SECRET).name(PHONE)}  # the bare digest is gone


def test_without_a_secret_returning_callers_are_refused_naming_the_setting(
    database_url: str,
) -> None:
    with running_backend(database_url) as url, httpx.Client(base_url=url, timeout=10) as http:
        response = http.post("/api/v1/callers/conversation", json={"key": PHONE})
    assert response.status_code == 503
    assert "VOICEFSM_BACKEND_CALLER_KEY_SECRET" in response.json()["detail"]


def test_the_secret_never_shows() -> None:
    keys = CallerKeys(SecretStr("s3cr3t-value-xyz-0123"))
    assert "s3cr3t" not in repr(keys)
    assert "s3cr3t" not in keys.name(PHONE)
