"""The rules for text voicefsm did not write: ids, printable text, and data shown to an LLM.

Metadata, attributes, transcripts and tool arguments come from callers and applications. Every
module that takes such text in, stores it or hands it to a model uses these, so the rules are
written once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated

from pydantic import Field, JsonValue
from pydantic_core import PydanticCustomError

#: An id that travels in URL paths and idempotency keys. No leading dot, so that "." and ".."
#: cannot be resolved by an HTTP client into another path (RFC 3986 dot segments).
Id = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:\-][A-Za-z0-9_.:\-]*$")
]


def clean_text(value: str, *, limit: int) -> str:
    """Printable text only: control and format characters removed, whitespace collapsed."""
    printable = "".join(
        " " if char.isspace() else char
        for char in value
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    return re.sub(r"\s+", " ", printable).strip()[:limit]


def quoted_data(data: object) -> str:
    """``data`` as JSON an LLM reads as data: ASCII, keys sorted, and ``<``, ``>``, ``&`` as
    ``\\u`` escapes, so it cannot close the tag around it or smuggle markup in."""
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def capped_json(value: JsonValue, *, limit: int) -> JsonValue:
    """``value`` if it is JSON every store takes: finite numbers, no NUL, at most ``limit``
    bytes compact; raises ``ValueError`` naming what is wrong."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        msg = "data must not contain NaN or Infinity"
        raise ValueError(msg) from None
    except TypeError:
        msg = "data must be JSON: objects, arrays, strings, numbers, booleans, null"
        raise ValueError(msg) from None
    # Typed refusals (both are ValueErrors): a JSON schema cannot say either of them of a free
    # JSON value, so a client (or a schema-driven fuzzer) can tell them from malformed input.
    if _has_nul(value):
        raise PydanticCustomError("not_storable", "data must not contain NUL characters")
    size = len(text.encode())
    if size > limit:
        raise PydanticCustomError(
            "too_large",
            "data is {size} bytes as JSON, over the {limit}-byte limit",
            {"size": size, "limit": limit},
        )
    return value


def _has_nul(value: JsonValue) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False
