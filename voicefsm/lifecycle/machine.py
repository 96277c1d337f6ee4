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

A ``Lifecycle`` belongs to one session and to one thread (the session's event loop).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import Any, NamedTuple

from transitions import Machine
from transitions.core import EventData

from voicefsm.lifecycle.effects import Effects, Utterance
from voicefsm.lifecycle.states import (
    FAREWELL_REASONS,
    FINAL_STATE,
    INITIAL_STATE,
    LIVE_STATES,
    EndReason,
    State,
    Trigger,
)
from voicefsm.lifecycle.table import SPEECH_COMPLETIONS, STATES, TRANSITIONS, Guard
from voicefsm.lifecycle.timeline import Timeline

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


_COMPLETED_SPEECH = frozenset({Trigger.GREETED, Trigger.REPLY_FINISHED})
_TURN_GUARDED = frozenset(
    (edge.source, edge.trigger) for edge in TRANSITIONS if Guard.IS_CURRENT_TURN in edge.guards
)


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


class _EffectGuard:
    """Contains an effect's exception so that it cannot escape the machine (see ``_failed``)."""

    __slots__ = ("_lifecycle", "_name")

    def __init__(self, lifecycle: Lifecycle, name: str) -> None:
        self._lifecycle = lifecycle
        self._name = name

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(exc, Exception):
            self._lifecycle._effect_failed(self._name, exc)
            return True
        return False


class Lifecycle:
    """One session's lifecycle. Fire triggers with :meth:`fire`; read :attr:`state`.

    ``max_reply_attempts`` bounds how often a failed reply is retried within one turn before the
    agent apologises. ``clock`` is monotonic seconds; ``log`` may be an adapter carrying ids.
    """

    _state_name: str  # set by transitions (model_attribute)

    def __init__(
        self,
        effects: Effects,
        *,
        max_reply_attempts: int = 2,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _LOG,
    ) -> None:
        if max_reply_attempts < 1:
            msg = "max_reply_attempts must be at least 1"
            raise ValueError(msg)
        self._effects = effects
        self._max_attempts = max_reply_attempts
        self._clock = clock
        self._log = log
        self.turn = 0
        self.end_reason: EndReason | None = None
        self.timeline = Timeline(origin=clock())
        self.refusals: Counter[Refusal] = Counter()
        self.effect_failures: Counter[str] = Counter()
        self._attempt = 0
        self._user_text = ""
        self._queue: deque[tuple[str, dict[str, object]]] = deque()
        self._processing = False
        self._machine = Machine(
            model=self,
            states=machine_states(),
            transitions=machine_transitions(),
            initial=INITIAL_STATE.value,
            auto_transitions=False,
            send_event=True,
            model_attribute="_state_name",
            model_override=True,
        )
        self._events = self._machine.events

    # -- public API -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return State(self._state_name)

    @property
    def is_finished(self) -> bool:
        return self._state_name == FINAL_STATE.value

    def fire(self, trigger: Trigger | str, /, **data: object) -> Outcome:
        """Fire ``trigger`` with its data (``turn=``, ``text=``, ``spoken=`` …). Never raises.

        Returns the trigger's outcome, or ``QUEUED`` when fired from inside a callback.
        """
        self._queue.append((trigger, data))
        if self._processing:
            return Outcome.QUEUED
        self._processing = True
        try:
            outcome = self._process(*self._queue.popleft())
            while self._queue:
                self._process(*self._queue.popleft())
        finally:
            self._processing = False
        return outcome

    def available_triggers(self) -> list[Trigger]:
        """Triggers with a transition from the current state (guards not evaluated)."""
        return [Trigger(name) for name in self._machine.get_triggers(self._state_name)]

    # -- processing ---------------------------------------------------------------------------

    def _process(self, trigger: str, data: dict[str, object]) -> Outcome:
        state = self.state
        event = self._events.get(trigger)
        if event is None:
            return self._refuse(Outcome.UNKNOWN, state, str(trigger))
        if state.value not in event.transitions:
            return self._refuse(Outcome.ILLEGAL, state, str(trigger))
        at = self._clock()
        try:
            accepted = event.trigger(self, **data)
        except Exception:
            # Effects are contained by _EffectGuard, so this is a defect in the machine itself.
            self._log.exception(
                "lifecycle callback failed", extra={"session_state": state, "trigger": trigger}
            )
            return self._refuse(Outcome.FAILED, state, str(trigger))
        if not accepted:
            stale = (state, trigger) in _TURN_GUARDED and not self._is_turn(data.get("turn"))
            return self._refuse(Outcome.STALE if stale else Outcome.GUARDED, state, str(trigger))
        self.timeline.record(at, state, self.state, Trigger(trigger), self.turn)
        return Outcome.ACCEPTED

    def _refuse(self, outcome: Outcome, state: State, trigger: str) -> Outcome:
        self.refusals[Refusal(outcome, state, trigger)] += 1
        level = logging.INFO if outcome in (Outcome.STALE, Outcome.GUARDED) else logging.WARNING
        self._log.log(
            level,
            "lifecycle trigger refused",
            extra={"session_state": state.value, "trigger": trigger, "outcome": outcome.value},
        )
        return outcome

    def _effect(self, name: str) -> _EffectGuard:
        return _EffectGuard(self, name)

    def _effect_failed(self, name: str, exc: Exception) -> None:
        self.effect_failures[name] += 1
        # The exception's message may carry provider details or secrets: log its type only.
        self._log.error(
            "lifecycle effect failed",
            extra={"effect": name, "error_type": type(exc).__name__, "session_state": self.state},
        )
        # A live session that cannot act ends cleanly (everything persisted); a failed flush
        # must still let the session exit. Other failures while ending are only recorded.
        if self.state in LIVE_STATES or name == "flush":
            self.fire(Trigger.FATAL_ERROR, cause=name)

    def _is_turn(self, turn: object) -> bool:
        return type(turn) is int and turn == self.turn

    # -- guards (named in the table) ------------------------------------------------------------

    def is_current_turn(self, event: EventData) -> bool:
        return self._is_turn(event.kwargs.get("turn"))

    def has_user_text(self, event: EventData) -> bool:
        text = event.kwargs.get("text")
        return isinstance(text, str) and bool(text.strip())

    def may_retry(self, event: EventData) -> bool:
        return self._attempt < self._max_attempts

    # -- actions (named in the table; each calls only its declared effects) ---------------------

    def load_context(self, event: EventData) -> None:
        with self._effect("load_context"):
            self._effects.load_context()

    def start_greeting(self, event: EventData) -> None:
        with self._effect("start_greeting"):
            self._effects.start_greeting(self.turn)

    def listen(self, event: EventData) -> None:
        with self._effect("listen"):
            self._effects.listen(self.turn)

    def begin_turn(self, event: EventData) -> None:
        self.turn += 1
        self._attempt = 1
        self._user_text = str(event.kwargs["text"])
        self._record(Utterance("user", self._user_text, self.turn))

    def start_reply(self, event: EventData) -> None:
        with self._effect("start_reply"):
            self._effects.start_reply(self.turn, self._user_text, self._attempt)

    def retry_reply(self, event: EventData) -> None:
        self._attempt += 1
        self.start_reply(event)

    def stop_speech(self, event: EventData) -> None:
        # Runs on exit, so the model is still in the state being left.
        if event.event.name not in SPEECH_COMPLETIONS[self.state]:
            with self._effect("interrupt"):
                self._effects.interrupt(self.turn)

    def record_reply(self, event: EventData) -> None:
        spoken = event.kwargs.get("spoken")
        if isinstance(spoken, str) and spoken:
            interrupted = event.event.name not in _COMPLETED_SPEECH
            self._record(Utterance("assistant", spoken, self.turn, interrupted))

    def apologise(self, event: EventData) -> None:
        with self._effect("apologise"):
            self._effects.apologise(self.turn)

    def note_end_reason(self, event: EventData) -> None:
        if self.end_reason is None:
            self.end_reason = EndReason(event.event.name)

    def say_farewell(self, event: EventData) -> None:
        if self.end_reason in FAREWELL_REASONS:
            with self._effect("say_farewell"):
                self._effects.say_farewell()

    def flush(self, event: EventData) -> None:
        with self._effect("flush"):
            self._effects.flush(self._ended_because)

    def shut_down(self, event: EventData) -> None:
        with self._effect("shut_down"):
            self._effects.shut_down(self._ended_because)

    @property
    def _ended_because(self) -> EndReason:
        # Every edge into persisting notes its reason; the fallback only guards a table edit.
        return self.end_reason or EndReason.FATAL_ERROR

    def _record(self, utterance: Utterance) -> None:
        with self._effect("append_history"):
            self._effects.append_history(utterance)
        with self._effect("enqueue_write"):
            self._effects.enqueue_write(utterance)


def build_lifecycle(
    effects: Effects,
    *,
    max_reply_attempts: int = 2,
    clock: Callable[[], float] = time.monotonic,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _LOG,
) -> Lifecycle:
    """A fresh lifecycle in ``joining`` for one session."""
    return Lifecycle(effects, max_reply_attempts=max_reply_attempts, clock=clock, log=log)
