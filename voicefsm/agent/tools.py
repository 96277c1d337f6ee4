"""A deadline for one tool: livekit has no tool timeout, voicefsm gives every tool one
(``VOICEFSM_TOOL_DEADLINE_S``) and this decorator sets one tool's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
DEADLINE_MARK = "__voicefsm_tool_deadline_s__"


def tool_deadline(seconds: float) -> Callable[[F], F]:
    """Give one tool its own deadline, under livekit's ``@function_tool``::

        @function_tool
        @tool_deadline(30.0)
        async def search_flights(self, context: RunContext, city: str) -> str: ...

    A call that runs longer is stopped and the model is told it timed out.
    """
    if not seconds > 0:
        msg = "a tool deadline is a positive number of seconds"
        raise ValueError(msg)

    def mark(function: F) -> F:
        setattr(function, DEADLINE_MARK, float(seconds))
        return function

    return mark
