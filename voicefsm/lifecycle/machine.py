"""The per-session lifecycle machine: the table of :mod:`.table` run by ``transitions``.

Why a synchronous ``transitions.Machine`` and our own queue:

* Callbacks only *start* work through :class:`~.effects.Effects` and return, so nothing in the
  machine awaits; long work reports back by firing a trigger. A sync machine is about 6x cheaper
  per transition than ``AsyncMachine`` and avoids its 0.9.3 pitfalls (swallowed cancellation,
  callbacks run in child tasks, implicit cancel of in-flight triggers).
* Triggers are serialised: one fired from inside a callback is queued and runs when the current
  transition is complete. Legality is decided when a trigger is *processed*, against the state at
  that moment, so the machine never raises for an illegal trigger (``transitions``' own queue
  decides too early for that, and clears itself on the first exception).

A ``Lifecycle`` belongs to one session and to one thread (the session's event loop). The
``transitions.Machine`` holding the table is built once per process and shared: each lifecycle
hands its own model to the machine's events, so a session costs a model, not a machine (building
one was most of what opening a session cost voicefsm). Nothing in it changes while a trigger
runs (no queue, no models registered with it), so sessions on other threads can share it too.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

from transitions import Machine

from voicefsm.lifecycle.callbacks import SessionModel, is_turn_token
from voicefsm.lifecycle.effects import Effects
from voicefsm.lifecycle.states import (
    ENDING_TRIGGERS,
    FINAL_STATE,
    INITIAL_STATE,
    LIVE_STATES,
    EndReason,
    State,
    Trigger,
)
from voicefsm.lifecycle.table import STATES, TRANSITIONS, Guard
from voicefsm.lifecycle.timeline import Timeline, TimelineEntry
from voicefsm.lifecycle.triggers import Completion, FatalError, TriggerData, data_for
from voicefsm.logs import Log

_LOG = logging.getLogger("voicefsm.lifecycle")


class Outcome(StrEnum):
    """What became of a fired trigger."""

    ACCEPTED = "accepted"
    QUEUED = "queued"  # fired from inside a callback; runs once the current transition is done
    ILLEGAL = "illegal"  # no transition for this trigger from the current state
    STALE = "stale"  # a completion carrying an older (or no) turn token
    GUARDED = "guarded"  # another guard said no, e.g. a blank user turn, no retry left
    UNKNOWN = "unknown"  # not a trigger of this lifecycle
    FAILED = "failed"  # a bug in a machine callback; logged with its traceback


class Refusal(NamedTuple):
    """Key of :attr:`Lifecycle.refusals`: low-cardinality, safe to export as metric labels."""

    outcome: Outcome
    state: State
    trigger: str


_TURN_GUARDED = frozenset(
    (edge.source, edge.trigger) for edge in TRANSITIONS if Guard.IS_CURRENT_TURN in edge.guards
)


#: Triggers that race a session's own end: the caller hanging up (or leaving) as the agent ends
#: the call, a timer firing as it ends. Refused once the session is ending, as expected.
_LATE_ENDINGS = frozenset(
    {
        *(t.value for t in ENDING_TRIGGERS),
        Trigger.SILENCE_TIMEOUT.value,
        Trigger.CALLER_DROPPED.value,
    }
)


def _refusal_level(outcome: Outcome, state: State, trigger: str) -> int:
    """INFO for the refusals a healthy session produces (stale completions, guards, an ending
    that comes after the session began to end); WARNING for the rest."""
    if outcome in (Outcome.STALE, Outcome.GUARDED):
        return logging.INFO
    if outcome is Outcome.ILLEGAL and state not in LIVE_STATES and trigger in _LATE_ENDINGS:
        return logging.INFO
    return logging.WARNING


def machine_states() -> list[dict[str, Any]]:
    """The ``transitions`` state configuration derived from the table."""
    return [
        {
            "name": spec.state.value,
            "on_enter": [action.value for action in spec.on_enter],
            "on_exit": [action.value for action in spec.on_exit],
            "final": spec.state is FINAL_STATE,
        }
        for spec in STATES
    ]


def machine_transitions() -> list[dict[str, Any]]:
    """The ``transitions`` transition configuration derived from the table, in table order."""
    return [
        {
            "trigger": edge.trigger.value,
            "source": edge.source.value,
            "dest": None if edge.dest is None else edge.dest.value,
            "conditions": [guard.value for guard in edge.guards],
            "before": [action.value for action in edge.before],
            "after": [action.value for action in edge.after],
        }
        for edge in TRANSITIONS
    ]


@functools.cache
def shared_machine() -> Machine:
    """The table as a ``transitions.Machine`` with no model of its own (see the module's note)."""
    return Machine(
        model=None,
        states=machine_states(),
        transitions=machine_transitions(),
        initial=INITIAL_STATE.value,
        auto_transitions=False,
        # Callbacks get the trigger's typed data as their one argument, not an EventData.
        send_event=False,
    )


class Lifecycle:
    """One session's lifecycle. Fire triggers with :meth:`fire`; read :attr:`state`.

    ``max_reply_attempts`` bounds how often a failed reply is tried within one turn before the
    agent apologises; ``max_failed_turns`` is the number of failed turns in a row that ends the
    session (the providers are down for good). ``clock`` is monotonic seconds; ``log`` may be
    an adapter carrying ids.
    """

    def __init__(
        self,
        effects: Effects,
        *,
        max_reply_attempts: int = 2,
        max_failed_turns: int = 3,
        clock: Callable[[], float] = time.monotonic,
        log: Log = _LOG,
    ) -> None:
        if max_reply_attempts < 1 or max_failed_turns < 1:
            msg = "max_reply_attempts and max_failed_turns must be at least 1"
            raise ValueError(msg)
        self._clock = clock
        self._log = log
        self._model = SessionModel(
            effects,
            max_reply_attempts=max_reply_attempts,
            max_failed_turns=max_failed_turns,
            on_effect_failure=self._effect_failed,
            log=log,
        )
        self.timeline = Timeline(origin=clock())
        self.refusals: Counter[Refusal] = Counter()
        self._queue: deque[TriggerData] = deque()
        self._processing = False
        self._listeners: list[Callable[[TimelineEntry], None]] = []
        self._refusal_listeners: list[Callable[[Refusal], None]] = []
        self._machine = shared_machine()
        self._events = self._machine.events

    @property
    def state(self) -> State:
        return State(self._model.state)

    @property
    def turn(self) -> int:
        """The current user turn; 0 until the first one. Completions must carry it."""
        return self._model.turn

    @property
    def end_reason(self) -> EndReason | None:
        return self._model.end_reason

    @property
    def effect_failures(self) -> Counter[str]:
        return self._model.effect_failures

    @property
    def is_finished(self) -> bool:
        return self._model.state == FINAL_STATE.value

    def fire(self, data: TriggerData) -> Outcome:
        """Fire ``data``'s trigger (see :mod:`~voicefsm.lifecycle.triggers`). Never raises.

        Returns the trigger's outcome, or ``QUEUED`` when fired from inside a callback.
        """
        self._queue.append(data)
        if self._processing:
            return Outcome.QUEUED
        self._processing = True
        try:
            outcome = self._process(self._queue.popleft())
            while self._queue:
                self._process(self._queue.popleft())
        finally:
            self._processing = False
        return outcome

    def fire_named(self, trigger: Trigger | str, /, **fields: object) -> Outcome:
        """Fire a trigger given by name with untyped fields: for replays, fuzzing and
        table-driven tests. An unknown name is refused (``UNKNOWN``); see
        :func:`~voicefsm.lifecycle.triggers.data_for` for how the fields are taken."""
        try:
            known = Trigger(trigger)
        except ValueError:
            return self._refuse(Outcome.UNKNOWN, self.state, str(trigger))
        return self.fire(data_for(known, fields))

    def subscribe(self, listener: Callable[[TimelineEntry], None]) -> None:
        """Call ``listener`` with each accepted transition, after it is on the timeline.

        Listeners must be quick and must not raise; one that raises is logged and dropped.
        """
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[TimelineEntry], None]) -> None:
        """Stop calling ``listener`` (subscribed with :meth:`subscribe`)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def subscribe_refusals(self, listener: Callable[[Refusal], None]) -> None:
        """Call ``listener`` with each refused trigger (same rules as :meth:`subscribe`)."""
        self._refusal_listeners.append(listener)

    def available_triggers(self) -> list[Trigger]:
        """Triggers with a transition from the current state (guards not evaluated)."""
        return [Trigger(name) for name in self._machine.get_triggers(self._model.state)]

    def _process(self, data: TriggerData) -> Outcome:
        state = self.state
        trigger = data.trigger.value
        event = self._events.get(trigger)
        if event is None:
            return self._refuse(Outcome.UNKNOWN, state, trigger)
        if state.value not in event.transitions:
            return self._refuse(Outcome.ILLEGAL, state, trigger)
        at = self._clock()
        try:
            accepted = event.trigger(self._model, data)
        except Exception:
            # Effects are contained by the model, so this is a defect in the machine itself.
            self._log.exception(
                "lifecycle callback failed", extra={"session_state": state, "trigger": trigger}
            )
            return self._refuse(Outcome.FAILED, state, trigger)
        if not accepted:
            stale = (state, data.trigger) in _TURN_GUARDED and not (
                isinstance(data, Completion) and is_turn_token(data.turn, self._model.turn)
            )
            return self._refuse(Outcome.STALE if stale else Outcome.GUARDED, state, trigger)
        self.timeline.record(
            at, state, self.state, data.trigger, self._model.turn, detail=data.detail
        )
        for listener in tuple(self._listeners):
            try:
                listener(self.timeline[-1])
            except Exception:
                self._log.exception("lifecycle listener failed; removed")
                self._listeners.remove(listener)
        return Outcome.ACCEPTED

    def _refuse(self, outcome: Outcome, state: State, trigger: str) -> Outcome:
        refusal = Refusal(outcome, state, trigger)
        self.refusals[refusal] += 1
        for listener in tuple(self._refusal_listeners):
            try:
                listener(refusal)
            except Exception:
                self._log.exception("lifecycle listener failed; removed")
                self._refusal_listeners.remove(listener)
        # Only our own names reach the message: an unknown trigger may be anyone's text.
        named = trigger if outcome is not Outcome.UNKNOWN else "(unknown)"
        self._log.log(
            _refusal_level(outcome, state, trigger),
            "lifecycle trigger %s refused in state %s: %s",
            named,
            state.value,
            outcome.value,
            extra={"session_state": state.value, "trigger": trigger, "outcome": outcome.value},
        )
        return outcome

    def _effect_failed(self, effect: str) -> None:
        # A live session that cannot act ends cleanly, everything persisted; a failed flush must
        # still let the session exit. Other failures while ending are only recorded.
        if self.state in LIVE_STATES or effect == "flush":
            self.fire(FatalError(cause=effect))
