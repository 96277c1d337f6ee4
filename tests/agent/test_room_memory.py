"""The room remembers its conversation: the id written into ``room.metadata`` through LiveKit's
RoomService (a Twirp stub that checks the JWT), the room's other keys kept, and every failure
degrading to a logged, counted no-op."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from trials.stubs.livekit_rooms import API_KEY, API_SECRET, room_service_stub
from voicefsm.context import MAX_METADATA_BYTES, parse_room_metadata
from voicefsm.engine.room_control import NoRoom
from voicefsm.engine.session_record import SessionRecord
from voicefsm.worker.room_memory import NOT_REMEMBERED, remember_conversation
from voicefsm.worker.room_service import LiveKitRoom

LOG = logging.getLogger("test")


def _record() -> SessionRecord:
    return SessionRecord("AJ_1", "c_remembered")


async def test_the_conversation_id_joins_the_room_metadata_and_other_keys_stay() -> None:
    raw = json.dumps({"tenant": "acme", "agent": {"greeting": "Hi"}, "extra": [1, 2]})
    record = _record()
    with room_service_stub() as stub:
        stub.metadata["line-7"] = raw
        room = LiveKitRoom("line-7", (stub.url, SecretStr(API_KEY), SecretStr(API_SECRET)), log=LOG)
        await remember_conversation(room, raw, parse_room_metadata(raw), record)
    assert json.loads(stub.metadata["line-7"]) == {
        "tenant": "acme",
        "agent": {"greeting": "Hi"},
        "extra": [1, 2],
        "conversation_id": "c_remembered",
    }
    assert not record.counters.errors


async def test_a_token_the_server_refuses_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = _record()
    with room_service_stub() as stub:
        wrong = (stub.url, SecretStr(API_KEY), SecretStr("not-the-secret-" * 4))
        room = LiveKitRoom("line-7", wrong, log=LOG)
        with caplog.at_level(logging.WARNING):
            await remember_conversation(room, None, parse_room_metadata(None), record)
    assert "line-7" not in stub.metadata  # the stub checked the JWT and refused it
    assert record.counters.errors[NOT_REMEMBERED] == 1
    assert "room metadata not written; the next session starts anew" in caplog.text


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '["a", "list"]',
        json.dumps({"conversation_id": 42}),  # a wrong type: an operator's mistake to keep
        json.dumps({"blob": "x" * MAX_METADATA_BYTES}),
        json.dumps({"blob": "x" * (MAX_METADATA_BYTES - 40)}),  # fits, but not with the id
    ],
)
async def test_metadata_that_cannot_be_merged_is_never_overwritten(raw: str) -> None:
    record = _record()
    with room_service_stub() as stub:
        stub.metadata["line-7"] = raw
        room = LiveKitRoom("line-7", (stub.url, SecretStr(API_KEY), SecretStr(API_SECRET)), log=LOG)
        await remember_conversation(room, raw, parse_room_metadata(raw), record)
    assert stub.metadata["line-7"] == raw
    assert record.counters.errors[NOT_REMEMBERED] == 1


async def test_without_credentials_nothing_is_written_and_nothing_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = _record()
    with caplog.at_level(logging.INFO, logger="voicefsm.agent"):
        await remember_conversation(NoRoom(), None, parse_room_metadata(None), record)
    assert "room metadata not written (no LiveKit credentials)" in caplog.text
    assert not record.counters.errors
