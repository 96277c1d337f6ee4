"""Lifecycle hooks: your code, run when the lifecycle enters or leaves a state or takes a
transition, on a method of your ``VoiceAgent``::

    class Clinic(VoiceAgent):
        @entering(State.PERSISTING)
        async def file_the_call(self, hook: HookContext) -> None:
            hook.write_event("call_filed", {"turns": len(hook.history)})

A hook may be sync or async. It never stalls the voice path or the machine: it runs in a task
(a sync hook in a thread of its own) under ``VOICEFSM_HOOK_DEADLINE_S``; one that raises or
hangs is contained, logged (static message), counted, and the call goes on. The session waits
for running hooks (within that deadline) before it writes its summary, so a hook on
``persisting`` still gets its writes persisted.

Why decorators on methods: like livekit's ``@function_tool``, a hook lives on the agent it
belongs to, so a handoff to another agent brings that agent's hooks along.

Which hooks run (:func:`hooks_in_charge`, the one rule the session, ``AgentHarness`` and the
diagrams follow): the hooks of the agent the call starts with (the one given to
``build_server`` or ``open_session``) are the session's, and run for the whole call whichever
agent is in charge, so "file the call" still runs on a call that was transferred; the hooks of
an agent handed the call run while it is in charge, beside them.

Why ``entering``/``leaving`` and not ``on_enter``/``on_exit``: livekit's ``Agent`` already has
``on_enter``/``on_exit`` methods, and an agent that speaks when it takes over needs both its
own ``async def on_enter`` and state hooks in one class body; a decorator of the same name
would be shadowed by the method defined before it (or shadow livekit's).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from voicefsm.backend.fields import EventData
from voicefsm.context import ParticipantMetadata
from voicefsm.lifecycle import Role, State, TimelineEntry, Trigger
from voicefsm.lifecycle.states import FINAL_STATE, INITIAL_STATE

HookResult = Awaitable[None] | None
F = TypeVar("F", bound=Callable[..., HookResult])
_MARK = "__voicefsm_hooks__"


class HookPoint(StrEnum):
    ENTER = "enter"
    EXIT = "exit"
    TRANSITION = "transition"


@dataclass(frozen=True, slots=True)
class HookSpec:
    """Where a hook runs: entering or leaving ``on`` (a state), or taking ``on`` (a trigger)."""

    point: HookPoint
    on: State | Trigger

    @property
    def label(self) -> str:
        return f"{self.point.value} {self.on.value}"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One message of the conversation, as the session keeps it and a hook reads it. ``id`` is
    also its write's idempotency key."""

    id: str
    role: Role
    text: str
    turn: int
    interrupted: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook can see of its session (a snapshot taken when the transition happened), and
    the one thing it can do to it: add durable writes of its own (:meth:`write_event`)."""

    session_id: str
    conversation_id: str
    #: The transition that ran the hook.
    entry: TimelineEntry
    participant: ParticipantMetadata
    history: tuple[HistoryItem, ...]
    timeline: tuple[TimelineEntry, ...]
    _write: Callable[[str, EventData], None] = field(repr=False)
    #: The call's shared state (livekit's ``userdata``, see :mod:`voicefsm.agent.shared_state`),
    #: the object itself, not a copy; None when the agent declares none.
    userdata: Any = field(default=None, repr=False)

    @property
    def state(self) -> State:
        """The state the session is in after the transition."""
        return self.entry.dest

    def write_event(self, name: str, data: EventData) -> None:
        """Hand an application event (``name``, JSON ``data``) to the outbox: durable once
        spooled, delivered exactly once like every other write. Raises ``ValueError`` for a
        name or data the backend contract does not take (see ``AppEvent``)."""
        self._write(name, data)


def _marker(spec: HookSpec) -> Callable[[F], F]:
    def mark(function: F) -> F:
        specs: list[HookSpec] = list(getattr(function, _MARK, ()))
        specs.append(spec)
        setattr(function, _MARK, tuple(specs))
        return function

    return mark


def entering(state: State) -> Callable[[F], F]:
    """Run the decorated method each time the lifecycle enters ``state``."""
    if State(state) is INITIAL_STATE:
        msg = f"every session starts in {INITIAL_STATE.value}: nothing enters it (use leaving)"
        raise ValueError(msg)
    return _marker(HookSpec(HookPoint.ENTER, State(state)))


def leaving(state: State) -> Callable[[F], F]:
    """Run the decorated method each time the lifecycle leaves ``state``."""
    if State(state) is FINAL_STATE:
        msg = f"{FINAL_STATE.value} is terminal: nothing leaves it (use entering)"
        raise ValueError(msg)
    return _marker(HookSpec(HookPoint.EXIT, State(state)))


def on_transition(trigger: Trigger) -> Callable[[F], F]:
    """Run the decorated method each time the lifecycle takes a ``trigger`` transition."""
    return _marker(HookSpec(HookPoint.TRANSITION, Trigger(trigger)))


@dataclass(frozen=True, slots=True)
class Hook:
    """A hook found on an agent: its name (the method's), where it runs, and how to call it."""

    name: str
    spec: HookSpec
    call: Callable[[HookContext], HookResult]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.call)


#: An agent class's hooks, found once: every session of a class runs the same ones, and looking
#: through every member of a livekit ``Agent`` subclass is the dearest part of starting one.
_DECLARED: weakref.WeakKeyDictionary[type, tuple[tuple[str, HookSpec], ...]] = (
    weakref.WeakKeyDictionary()
)


def declared_hooks(agent_type: type) -> list[tuple[str, HookSpec]]:
    """The hooks an agent class declares, as (method name, where it runs), in a stable order."""
    declared = _DECLARED.get(agent_type)
    if declared is None:
        found = [
            (name, spec)
            for name, member in inspect.getmembers(agent_type)
            if callable(member)
            for spec in getattr(member, _MARK, ())
        ]
        declared = tuple(sorted(found, key=lambda item: (item[0], item[1].point, item[1].on)))
        _DECLARED[agent_type] = declared
    return list(declared)


def hooks_in_charge(first: object, active: object) -> list[Hook]:
    """The hooks a session runs while ``active`` is in charge of a call that started with
    ``first``: the first agent's (the session's, for the whole call), then ``active``'s."""
    hooks = find_hooks(first)
    if active is not first:
        hooks.extend(find_hooks(active))
    return hooks


def find_hooks(agent: object) -> list[Hook]:
    """The hooks of ``agent``, bound to it."""
    bound: Any
    hooks = []
    for name, spec in declared_hooks(type(agent)):
        bound = getattr(agent, name)
        hooks.append(Hook(name, spec, bound))
    return hooks
