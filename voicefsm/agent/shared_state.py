"""Typed state shared by every agent of a call: livekit's ``userdata``, made per call.

A LiveKit developer keeps what a call collects (the caller's order, their booking) in the
session's ``userdata`` and reads it as ``context.userdata`` in a tool typed ``RunContext[T]``.
voicefsm makes one per call from a factory (a pydantic model class, a dataclass class, any
function without arguments), declared with the agent class (``class Hotel(VoiceAgent,
userdata=Stay)``) or given to ``build_server(Hotel, userdata=Stay)``. Agents a call is handed
to read the same state, so they need no constructor arguments and can be drawn and simulated
on their own. Hooks read it as ``hook.userdata``; the session summary keeps it as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import JsonValue
from pydantic_core import PydanticSerializationError, to_jsonable_python

#: Makes a call's shared state: a model or dataclass class, or any function of no arguments.
UserdataFactory = Callable[[], Any]

_FACTORY = "userdata_factory"


def userdata_factory(agent: object) -> UserdataFactory | None:
    """The factory of ``agent``'s shared state: its own (``build_server(..., userdata=)``),
    else its class's (``userdata=`` in the class statement), else None."""
    factory = getattr(agent, _FACTORY, None)
    return factory if callable(factory) else None


def make_userdata(agent: object) -> object | None:
    """A fresh shared state for a call ``agent`` starts, or None when it declares none."""
    factory = userdata_factory(agent)
    return None if factory is None else factory()


def userdata_json(userdata: object | None) -> JsonValue:
    """The shared state as JSON for the session summary (pydantic models, dataclasses, dates
    and the like as pydantic writes them); None for state that has no JSON form, rather than
    a summary refused for it."""
    if userdata is None:
        return None
    try:
        return to_jsonable_python(userdata)  # type: ignore[no-any-return]
    except (PydanticSerializationError, TypeError, ValueError):
        return None


class WithUserdata:
    """An agent factory whose agents make their call's shared state with ``userdata`` (what
    ``build_server(agent, userdata=...)`` runs). A class, not a closure, so that the worker's
    entrypoint still pickles by reference."""

    def __init__(self, agent: Callable[[], Any], userdata: UserdataFactory) -> None:
        self.agent = agent
        self.userdata = userdata

    def __call__(self) -> Any:  # noqa: ANN401 (the agent the factory makes)
        made = self.agent()
        setattr(made, _FACTORY, self.userdata)
        return made
