"""The backend contract v1: the wire models both the client and the reference server use.

Requests forbid unknown fields (a typo is a 422, not silently lost data); responses ignore them,
so an older client keeps working against a newer server. Every event carries an
``idempotency_key``; the server applies each key once and answers 422 when a key comes back with
a different payload.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
)

from voicefsm.backend import fields as event_data
from voicefsm.backend.fields import MAX_TEXT, NO_NUL, Instant, Seconds, Short, Text
from voicefsm.backend.fields import EventFields as _Event
from voicefsm.backend.flow_state import FlowStateEvent, FlowSummary
from voicefsm.lifecycle.states import EndReason, Role
from voicefsm.lifecycle.triggers import ToolOutcome
from voicefsm.untrusted import Id, capped_json

API_PREFIX = "/api/v1"
MAX_BATCH = 500


def storable_text(text: str) -> str:
    """``text`` as the contract stores it: without NUL, at most :data:`MAX_TEXT` characters.

    What a session writes goes through here, so that no write of ours can be refused (and
    dead-lettered) for its text.
    """
    return text.replace("\x00", "")[:MAX_TEXT]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- rooms -------------------------------------------------------------------------------------


class CreateRoomRequest(_Request):
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]
    #: Agent settings for the room (see voicefsm.context.AgentSettings); stored as given.
    metadata: dict[Short, JsonValue] = {}

    @field_validator("metadata")
    @classmethod
    def _strict_json(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        # NaN, Infinity and a lone surrogate ("\ud800") parse, but the room metadata must be
        # JSON every client can read, and UTF-8 (as every other text of the contract is).
        try:
            json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            msg = "metadata must be valid Unicode (it holds a lone surrogate)"
            raise ValueError(msg) from None
        except ValueError:
            msg = "metadata must not contain NaN or Infinity"
            raise ValueError(msg) from None
        return value


class CreateRoomResponse(_Response):
    room_name: str
    conversation_id: str
    #: The JSON string to set as ``room.metadata`` (it is what the worker reads).
    room_metadata: str
    created: bool
    livekit_room_created: bool


#: The longest a live call's hold on its caller's conversation may last unrenewed.
MAX_CALLER_LEASE_S = 3600.0


class CallerConversationRequest(_Request):
    """A returning caller's conversation for one live call, held by ``session_id`` for
    ``lease_s`` (renewed by asking again; freed by the summary). Another live call of the
    caller meanwhile gets one of its own, linked (``held``: false). No ``session_id``: unheld."""

    #: Who is calling: a phone number, a user id. The reference backend keeps only a keyed digest.
    key: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]
    session_id: Id | None = None
    lease_s: Annotated[float, Field(gt=0, le=MAX_CALLER_LEASE_S, allow_inf_nan=False)] = 60.0


class CallerConversationResponse(_Response):
    conversation_id: str
    created: bool
    #: The call holds the caller's own conversation; false: another live call of the caller
    #: holds it, and this one has a conversation of its own, linked to the caller's.
    held: bool = True


# -- events ------------------------------------------------------------------------------------


class MessageEvent(_Event):
    """A conversation message as it was actually said (``interrupted``: cut off, text partial)."""

    kind: Literal["message"] = "message"
    role: Role
    text: Text
    turn: Annotated[int, Field(ge=0)]
    interrupted: bool = False


class TranscriptionEvent(_Event):
    kind: Literal["transcription"] = "transcription"
    text: Text
    final: bool
    language: Short | None = None


class SpeechEvent(_Event):
    """TTS metadata: a speech the agent created (greeting, reply, farewell ...)."""

    kind: Literal["speech"] = "speech"
    speech_id: Short
    source: Short
    user_initiated: bool = False


class ErrorEvent(_Event):
    kind: Literal["error"] = "error"
    source: Short
    error_type: Short
    recoverable: bool


#: The most an application event's data may weigh, as compact JSON.
MAX_APP_DATA_BYTES = 16_384
AppEventName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]


class AppEvent(_Event):
    """An application's own durable record: a name and capped JSON data (a booking, a call
    note), written by the agent's tools and hooks through the outbox."""

    kind: Literal["app"] = "app"
    name: AppEventName
    data: JsonValue = None

    @field_validator("data")
    @classmethod
    def _storable(cls, value: JsonValue) -> JsonValue:
        return capped_json(value, limit=MAX_APP_DATA_BYTES)


#: The most a tool call's arguments or result keep, each.
MAX_TOOL_TEXT = 8_192


class ToolCallEvent(_Event):
    """A tool the agent called: the model's arguments (JSON text) and what the model was told,
    each capped; how it ended, how long it took, and whether the user barged in meanwhile."""

    kind: Literal["tool_call"] = "tool_call"
    call_id: Short
    name: Short
    turn: Annotated[int, Field(ge=0)]
    arguments: Annotated[str, Field(max_length=MAX_TOOL_TEXT, pattern=NO_NUL)]
    result: Annotated[str, Field(max_length=MAX_TOOL_TEXT, pattern=NO_NUL)]
    outcome: ToolOutcome
    duration_s: Seconds
    interrupted: bool = False


class HandoffEvent(_Event):
    """Another agent took over the call."""

    kind: Literal["handoff"] = "handoff"
    from_agent: Short
    to_agent: Short


def validated_app_event(
    name: str,
    data: event_data.EventData,
    *,
    key: str = "check",
    session_id: str = "check",
    at: datetime | None = None,
) -> AppEvent:
    """An :class:`AppEvent`, or ``ValueError`` saying in one line what the contract refuses
    (the caller's mistake: reported to the caller, never stored)."""
    try:
        return AppEvent(
            idempotency_key=key,
            session_id=session_id,
            at=at or datetime.now(UTC),
            name=name,
            data=event_data.plain_json(data),  # type: ignore[arg-type]  # checked here, by the model
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        msg = f"application event refused: {problems}"
        raise ValueError(msg) from None


Event = Annotated[
    MessageEvent
    | TranscriptionEvent
    | SpeechEvent
    | ErrorEvent
    | AppEvent
    | ToolCallEvent
    | HandoffEvent
    | FlowStateEvent,
    Field(discriminator="kind"),
]


class EventBatch(_Request):
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_BATCH)]


class EventBatchResult(_Response):
    accepted: int
    duplicates: int


def payload_digest(payload: dict[str, object]) -> str:
    """Canonical hash of a request's JSON form: what "the same payload" means for idempotency."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- messages and context ----------------------------------------------------------------------


class Message(_Response):
    id: str
    session_id: str
    role: Role
    text: str
    turn: int
    interrupted: bool
    at: datetime


class MessagesResponse(_Response):
    conversation_id: str
    messages: list[Message]


class ContextRequest(_Request):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    session_id: Id | None = None


class ContextResponse(_Response):
    snippets: list[str]


# -- sessions ----------------------------------------------------------------------------------


class ParticipantSummary(_Request):
    identity: Short
    #: livekit's participant kind: a caller over SIP, a browser or app user, an agent.
    kind: Literal["standard", "sip", "agent", "other"] = "standard"
    user_id: Id | None = None
    display_name: Short | None = None
    joined_at: Instant
    left_at: Instant | None = None


class MessageSummary(_Request):
    role: Role
    text: Text
    turn: Annotated[int, Field(ge=0)]
    interrupted: bool = False


class TimelineRecord(_Request):
    t: Seconds
    from_state: Annotated[str, Field(alias="from", max_length=32)]
    to: Annotated[str, Field(max_length=32)]
    trigger: Annotated[str, Field(max_length=32)]
    turn: Annotated[int, Field(ge=0)]
    #: A tool's name and outcome, a handoff's agents; absent from the wire when there is none.
    detail: Annotated[Short | None, Field(exclude_if=lambda value: value is None)] = None

    # "from" is a keyword in Python: the field has another name, the wire always says "from".
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )


class SessionSummary(_Request):
    session_id: Id
    conversation_id: Id
    started_at: Instant
    ended_at: Instant
    duration_s: Seconds
    end_reason: EndReason
    participants: Annotated[list[ParticipantSummary], Field(max_length=64)] = []
    messages: Annotated[list[MessageSummary], Field(max_length=10_000)] = []
    timeline: Annotated[list[TimelineRecord], Field(max_length=100_000)] = []
    #: Where the conversation's flows are at the end (node, data, path) and their node changes.
    flows: Annotated[list[FlowSummary], Field(max_length=16)] = []
    userdata: JsonValue = None  # the call's shared state (the agent's userdata), at its end


class SessionStored(_Response):
    session_id: str
    created: bool


class Problem(_Response):
    """The body of a refusal that is not a validation error (400, 401, 408, 413, 502, 503)."""

    detail: str


class Health(_Response):
    status: Literal["ok"]
    version: str
