"""livekit's overridable methods on a ``VoiceAgent`` subclass, kept whole with or without
``super()``.

A LiveKit developer overrides ``on_enter`` to greet (``self.session.generate_reply(...)``) and
``on_user_turn_completed`` to add context to a turn, and rarely calls ``super()``: livekit's own
methods do nothing. On a ``VoiceAgent`` they carry the lifecycle's part (the agent is live; the
turn goes to the lifecycle), so an override that skipped ``super()`` would leave the call stuck in
``joining``. Rather than a rule in a docstring, the class wraps each override when it is defined:
the wrapper runs the lifecycle's part itself (before your ``on_enter``, after your
``on_user_turn_completed``, which may edit the message or raise ``StopResponse`` to keep the turn),
and a ``super()`` call inside your method finds the part marked as taken care of, so it runs once.
``on_exit`` carries no part of the lifecycle (a handoff is seen from the session's events) and is
yours as it is.

Why a context variable: the mark must follow one call of one agent (nested overrides of a class
hierarchy, an agent entered twice) and nothing else; livekit runs each call in its own task.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from livekit.agents import llm

#: (agent id, method name) of the wrapped calls running in this context.
_RUNNING: ContextVar[frozenset[tuple[int, str]]] = ContextVar(
    "voicefsm_lifecycle_parts", default=frozenset()
)
_WRAPPED = "__voicefsm_keeps_lifecycle__"

EnterPart = Callable[[Any], Awaitable[None]]
TurnPart = Callable[[Any, llm.ChatMessage], Awaitable[None]]


def lifecycle_part_done(agent: object, method: str) -> bool:
    """True inside a wrapped override of ``method``: the wrapper runs the lifecycle's part, so
    the base method reached through ``super()`` must not run it again."""
    return (id(agent), method) in _RUNNING.get()


def in_on_enter() -> bool:
    """True while an agent's ``on_enter`` override runs in this context (livekit announces a
    speech from inside ``say``/``generate_reply``, so a speech created now is one it started)."""
    return any(method == "on_enter" for _agent, method in _RUNNING.get())


def keep_lifecycle_part(cls: type, *, enter: EnterPart, turn: TurnPart) -> None:
    """Wrap ``cls``'s own ``on_enter`` and ``on_user_turn_completed`` (if it defines them) so
    the lifecycle's ``enter`` and ``turn`` parts run whether the override calls ``super()``."""
    own_enter = cls.__dict__.get("on_enter")
    if callable(own_enter) and not getattr(own_enter, _WRAPPED, False):
        type.__setattr__(cls, "on_enter", _wrap_enter(own_enter, enter))
    own_turn = cls.__dict__.get("on_user_turn_completed")
    if callable(own_turn) and not getattr(own_turn, _WRAPPED, False):
        type.__setattr__(cls, "on_user_turn_completed", _wrap_turn(own_turn, turn))


def _wrap_enter(
    own: Callable[[Any], Awaitable[None]], enter: EnterPart
) -> Callable[[Any], Awaitable[None]]:
    @functools.wraps(own)
    async def on_enter(self: Any) -> None:  # noqa: ANN401 (the agent class being defined)
        if lifecycle_part_done(self, "on_enter"):  # an outer override's wrapper runs it
            await own(self)
            return
        token = _RUNNING.set(_RUNNING.get() | {(id(self), "on_enter")})
        try:
            # First, so the call is live (and a greeting of your own is on the record) even
            # when your on_enter waits on something or fails.
            await enter(self)
            await own(self)
        finally:
            _RUNNING.reset(token)

    setattr(on_enter, _WRAPPED, True)
    return on_enter


def _wrap_turn(
    own: Callable[[Any, llm.ChatContext, llm.ChatMessage], Awaitable[None]], turn: TurnPart
) -> Callable[[Any, llm.ChatContext, llm.ChatMessage], Awaitable[None]]:
    @functools.wraps(own)
    async def on_user_turn_completed(
        self: Any,  # noqa: ANN401 (the agent class being defined)
        turn_ctx: llm.ChatContext,
        new_message: llm.ChatMessage,
    ) -> None:
        if lifecycle_part_done(self, "on_user_turn_completed"):
            await own(self, turn_ctx, new_message)
            return
        token = _RUNNING.set(_RUNNING.get() | {(id(self), "on_user_turn_completed")})
        try:
            # Yours first: it may add to the message, or keep the turn (StopResponse).
            await own(self, turn_ctx, new_message)
        finally:
            _RUNNING.reset(token)
        await turn(self, new_message)

    setattr(on_user_turn_completed, _WRAPPED, True)
    return on_user_turn_completed
