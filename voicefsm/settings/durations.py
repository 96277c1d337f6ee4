"""Every duration setting, validated one way: a finite number of seconds, more than 0 (or at
least 0 where 0 means "off"), at most the longest wait that kind of duration can sensibly be.

``inf``, ``nan`` and ``1e308`` are refused with the variable's name: a deadline that never comes
is a hang (``VOICEFSM_HOOK_DEADLINE_S=inf`` let a hanging hook hold a session for ever), and an
enormous one overflows what livekit takes (``VOICEFSM_DRAIN_TIMEOUT_S=inf`` was an
``OverflowError`` traceback).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo


class Span(Enum):
    """How long a kind of duration may be, at most (seconds), and what it is a wait for."""

    #: A wait the caller sits through, in silence: a turn's deadlines, a hook, the goodbye.
    TURN = 60.0
    #: Long work in or at the end of a call: a tool, the flush, a delivery, a slow request.
    TASK = 600.0
    #: Timers over a whole call: the caller's silence, a back-off.
    CALL = 3600.0
    #: A draining worker's wait for its live calls (a day, as the CLI's ``--timeout``).
    DRAIN = 86_400.0

    @property
    def limit(self) -> float:
        return float(self.value)


def duration(
    default: float, description: str, span: Span, *, off: bool = False, limit: float | None = None
) -> Any:  # noqa: ANN401 (a pydantic field, typed by its annotation)
    """A duration field: finite, more than 0 (at least 0 when ``off``: 0 then means "never" or
    "none", as ``description`` must say), at most ``limit`` or the span's."""
    return Field(
        default,
        allow_inf_nan=False,
        ge=0.0 if off else None,
        gt=None if off else 0.0,
        le=span.limit if limit is None else limit,
        description=description,
    )


def bounds(field: FieldInfo) -> tuple[float | None, float | None, bool]:
    """``(lowest, highest, lowest allowed)`` of a numeric field, from its constraints."""
    low: float | None = None
    high: float | None = None
    inclusive = True
    for constraint in field.metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(constraint, name, None)
            if value is None:
                continue
            if name in ("ge", "gt"):
                low, inclusive = float(value), name == "ge"
            else:
                high = float(value)
    return low, high, inclusive


def is_duration(field: FieldInfo) -> bool:
    """Made by :func:`duration`: refuses non-finite numbers and has an upper bound."""
    finite = any(getattr(c, "allow_inf_nan", None) is False for c in field.metadata)
    return finite and bounds(field)[1] is not None
