"""Room creation against a LiveKit RoomService stub, the committed OpenAPI, and the CLI server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from trials.stubs.livekit_rooms import API_KEY, API_SECRET, room_service_stub
from trials.support import free_port
from voicefsm.backend.openapi import COMMITTED, openapi_document
from voicefsm.backend.server.livekit_rooms import LiveKitRooms
from voicefsm.backend.server.runner import running_backend
from voicefsm.context import parse_room_metadata


def test_creating_a_room_creates_the_livekit_room_with_its_metadata(tmp_path: Path) -> None:
    with (
        room_service_stub() as stub,
        running_backend(
            f"sqlite:///{tmp_path / 'b.db'}",
            rooms=LiveKitRooms(stub.url, SecretStr(API_KEY), SecretStr(API_SECRET)),
        ) as url,
    ):
        response = httpx.post(f"{url}/api/v1/rooms", json={"name": "sales-7"}, timeout=10)

    assert response.status_code == 201
    body = response.json()
    assert body["livekit_room_created"] is True
    assert stub.created == [("sales-7", body["room_metadata"])]
    assert parse_room_metadata(stub.created[0][1]).value.conversation_id == body["conversation_id"]


def test_a_livekit_failure_is_502_and_a_retry_reuses_the_conversation(tmp_path: Path) -> None:
    with (
        room_service_stub() as stub,
        running_backend(
            f"sqlite:///{tmp_path / 'b.db'}",
            rooms=LiveKitRooms(stub.url, SecretStr(API_KEY), SecretStr(API_SECRET)),
        ) as url,
    ):
        stub.fail_next = 1
        failed = httpx.post(f"{url}/api/v1/rooms", json={"name": "r1"}, timeout=10)
        retried = httpx.post(f"{url}/api/v1/rooms", json={"name": "r1"}, timeout=10)

    assert failed.status_code == 502
    assert retried.status_code == 200  # the conversation already existed
    assert [name for name, _ in stub.created] == ["r1"]


def test_wrong_livekit_credentials_are_not_accepted_by_the_stub(tmp_path: Path) -> None:
    """The stub really verifies the JWT, so the success above means a valid signed request."""
    with (
        room_service_stub() as stub,
        running_backend(
            f"sqlite:///{tmp_path / 'b.db'}",
            rooms=LiveKitRooms(
                stub.url, SecretStr(API_KEY), SecretStr("a-different-secret-0123456789abcdef")
            ),
        ) as url,
    ):
        response = httpx.post(f"{url}/api/v1/rooms", json={"name": "r1"}, timeout=10)
    assert response.status_code == 502
    assert stub.created == []


def test_livekit_rooms_repr_hides_credentials() -> None:
    rooms = LiveKitRooms("http://127.0.0.1:1", SecretStr(API_KEY), SecretStr(API_SECRET))
    assert API_SECRET not in repr(rooms)
    assert API_KEY not in repr(rooms)


def test_the_committed_openapi_document_matches_the_server() -> None:
    assert COMMITTED.read_text() == openapi_document(), (
        "voicefsm/backend/openapi.json is stale: "
        "run `voicefsm backend --openapi > voicefsm/backend/openapi.json`"
    )


def test_the_openapi_document_covers_the_contract() -> None:
    paths = json.loads(COMMITTED.read_text())["paths"]
    assert sorted(paths) == [
        "/api/v1/callers/conversation",
        "/api/v1/conversations/{conversation_id}/context",
        "/api/v1/conversations/{conversation_id}/events",
        "/api/v1/conversations/{conversation_id}/flows",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/sessions",
        "/api/v1/rooms",
        "/api/v1/sessions/{session_id}",
        "/healthz",
    ]


@pytest.mark.slow
def test_the_backend_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "nested" / "backend.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicefsm",
            "backend",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{database}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "backend did not start"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        assert database.exists()  # schema created on start, directory made
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
    assert "Application shutdown complete" in output
    assert process.returncode in (0, -signal.SIGTERM), output
