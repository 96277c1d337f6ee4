"""The contract's field types: what a key, a text, a duration and an instant may be.

Each is a constraint the reference backend needs to store a value on SQLite and PostgreSQL
alike, written where the wire models (:mod:`voicefsm.backend.models`) and their JSON schema
take it from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from voicefsm.untrusted import Id

MAX_TEXT = 20_000

# Stored text never holds NUL: PostgreSQL cannot store it, and the reference backend must accept
# the same requests on SQLite and PostgreSQL.
NO_NUL = r"^[^\x00]*$"
Key = Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]
Text = Annotated[str, Field(max_length=MAX_TEXT, pattern=NO_NUL)]
Short = Annotated[str, Field(max_length=256, pattern=NO_NUL)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _storable(value: datetime) -> datetime:
    # Stored in UTC: on the calendar's first and last day an offset can carry the instant out of
    # the years 1 to 9999, which no database here stores (it was a 500).
    if (value.year, value.month, value.day) in ((1, 1, 1), (9999, 12, 31)):
        msg = "an instant on 0001-01-01 or 9999-12-31 cannot be stored"
        raise ValueError(msg)
    return value


#: An instant with its offset, as the contract takes it (stored, and returned, in UTC).
Instant = Annotated[
    AwareDatetime,
    AfterValidator(_storable),
    Field(json_schema_extra={"pattern": r"^(?!0001-01-01|9999-12-31)"}),
]


def _kind_is_required(schema: dict[str, JsonValue]) -> None:
    # ``kind`` is the union's discriminator: the server cannot tell an event's type without it,
    # so the wire requires it even though the Python models default it (OpenAPI asks the same).
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "kind" not in required:
        required.append("kind")


class EventFields(BaseModel):
    """What every event carries: its idempotency key, its session, when it happened."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_kind_is_required)

    idempotency_key: Key
    session_id: Id
    at: Instant


#: What an application event's data may be given as: any JSON value, or any mapping with string
#: keys (a ``dict[str, object]``, a ``MappingProxyType``...) whose values are JSON; the contract
#: checks the values when the event is written.
EventData = JsonValue | Mapping[str, object]


def plain_json(data: object) -> object:
    """A mapping's items as a dict, nested mappings and sequences too, for the contract to check
    (pydantic's JSON values are dicts and lists)."""
    if isinstance(data, Mapping):
        return {key: plain_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [plain_json(value) for value in data]
    return data
