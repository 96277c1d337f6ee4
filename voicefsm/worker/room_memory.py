"""The room remembers its conversation, and a returning caller theirs.

A room whose metadata names no conversation (rooms made by LiveKit's SIP dispatch rules or by a
frontend) gets one the way an application gets one: ``POST /api/v1/rooms`` with the room's name,
asked once at join under the history deadline (the backend keeps one conversation per room
name). With ``returning_callers`` set, the caller keys it instead (their ``sip.phoneNumber``
attribute or metadata ``user_id``: ``POST /api/v1/callers/conversation``), so a caller who rings
again, into a new room, resumes their history. Its id is then written into ``room.metadata``
(the other keys kept) through LiveKit's server API, off the voice path, so that a restarted or
re-dispatched agent continues the same conversation. Either step failing degrades: the session
goes on with an id of its own, and the failure is logged and counted, never raised into the call.
"""

from __future__ import annotations

import asyncio
import json
import logging

from voicefsm.backend.client import BackendClient, backend_http
from voicefsm.context import (
    MAX_METADATA_BYTES,
    Parsed,
    ParticipantMetadata,
    RoomMetadata,
    parse_participant_attributes,
)
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session_record import SessionRecord
from voicefsm.settings import Settings

_LOG = logging.getLogger("voicefsm.agent")
#: What a metadata write that could not be done is counted as, in the session's errors.
NOT_REMEMBERED = "room_metadata_not_written"


def caller_key(settings: Settings, caller: object, metadata: ParticipantMetadata) -> str | None:
    """What keys a returning caller's conversation, as ``settings.returning_callers`` says:
    their ``sip.phoneNumber`` attribute, or their metadata's ``user_id``; ``None`` if off or
    absent."""
    if settings.returning_callers == "user_id":
        return metadata.user_id
    if settings.returning_callers == "sip_phone":
        attributes = parse_participant_attributes(getattr(caller, "attributes", None)).value
        return attributes.get("sip.phoneNumber") or None
    return None


async def conversation_for_room(
    room_name: str,
    room: RoomMetadata,
    settings: Settings,
    *,
    caller: str | None = None,
    session_id: str | None = None,
) -> RoomMetadata:
    """``room`` naming its conversation: the room's own, else the caller's (``caller``: their
    key), else the backend's for ``room_name``; unchanged when there is no backend or it does
    not answer within the history deadline."""
    if room.conversation_id is not None or settings.backend_url is None:
        return room
    if not caller and not room_name:
        return room
    try:
        async with backend_http(str(settings.backend_url)) as http:
            client = BackendClient(
                http,
                token=settings.backend_token,
                write_timeout_s=settings.history_deadline_s,
            )
            async with asyncio.timeout(settings.history_deadline_s):
                if caller:
                    found = await client.caller_conversation(
                        caller, session_id=session_id, lease_s=settings.caller_lease_s
                    )
                    conversation_id = found.conversation_id
                    if not found.held:
                        _LOG.info(
                            "the caller is in another live call: this call has a conversation "
                            "of its own",
                            extra={"conversation_id": conversation_id},
                        )
                else:
                    agent = room.agent.model_dump(mode="json", exclude_none=True)
                    created = await client.create_room(room_name, agent)
                    conversation_id = created.conversation_id
    except Exception as exc:  # a name the backend refuses, a timeout, an outage: degrade
        _LOG.warning(
            "no conversation from the backend for the room; a new one is started",
            extra={"error_type": type(exc).__name__},
        )
        return room
    return room.model_copy(update={"conversation_id": conversation_id})


async def hold_caller_conversation(
    caller: str, session_id: str, settings: Settings, finished: asyncio.Event
) -> None:
    """Renew this call's hold on its caller's conversation every third of the lease until the
    call has ``finished`` (its summary then frees the conversation; a crashed call's hold runs
    out). A failed renewal is retried at the next beat."""
    if settings.backend_url is None:
        return
    async with backend_http(str(settings.backend_url)) as http:
        client = BackendClient(
            http, token=settings.backend_token, write_timeout_s=settings.history_deadline_s
        )
        while True:
            try:
                await asyncio.wait_for(finished.wait(), settings.caller_lease_s / 3)
            except TimeoutError:
                pass
            else:
                return
            try:
                await client.caller_conversation(
                    caller, session_id=session_id, lease_s=settings.caller_lease_s
                )
            except Exception as exc:  # an outage: the next beat tries again
                _LOG.warning(
                    "the caller's conversation hold was not renewed",
                    extra={"error_type": type(exc).__name__},
                )


def merged_metadata(
    raw: str | None, parsed: Parsed[RoomMetadata], conversation_id: str
) -> str | None:
    """The room's metadata with ``conversation_id`` added and every other key kept; ``None``
    when the existing metadata was refused (invalid, oversized: it is never overwritten) or the
    result would be over the size limit."""
    if parsed.problem is not None:
        return None
    data = json.loads(raw) if raw else {}
    data["conversation_id"] = conversation_id
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text if len(text.encode()) <= MAX_METADATA_BYTES else None


async def remember_conversation(
    control: RoomControl,
    raw: str | None,
    parsed: Parsed[RoomMetadata],
    record: SessionRecord,
) -> None:
    """Write the session's conversation id into the room's metadata. Runs as a session task,
    never awaited by the call."""
    log = {"session_id": record.session_id, "conversation_id": record.conversation_id}
    if not control.available:
        _LOG.info("room metadata not written (no LiveKit credentials)", extra=log)
        return
    metadata = merged_metadata(raw, parsed, record.conversation_id)
    if metadata is None:
        _LOG.warning("room metadata left as it was: it could not be merged", extra=log)
        record.counters.errors[NOT_REMEMBERED] += 1
        return
    try:
        written = await control.update_metadata(metadata)
    except Exception:  # an application's RoomControl that raises: the same as a refusal
        written = False
    if not written:
        _LOG.warning("room metadata not written; the next session starts anew", extra=log)
        record.counters.errors[NOT_REMEMBERED] += 1
