"""The guards and actions the transition table names, on the model ``transitions`` drives.

This object is private to :class:`~voicefsm.lifecycle.machine.Lifecycle`: ``transitions`` binds
its own trigger methods onto it, and those must not be reachable around the lifecycle's queue.
Each action calls only the effects :data:`~voicefsm.lifecycle.table.ACTION_EFFECTS` declares for
it (a generated test holds it to that).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from types import TracebackType

from transitions.core import EventData

from voicefsm.lifecycle.effects import Effects, Utterance
from voicefsm.lifecycle.states import FAREWELL_REASONS, INITIAL_STATE, EndReason, State, Trigger
from voicefsm.lifecycle.table import SPEECH_COMPLETIONS

_COMPLETED_SPEECH = frozenset({Trigger.GREETED, Trigger.REPLY_FINISHED})


def is_turn_token(value: object, turn: int) -> bool:
    """True when ``value`` is exactly the int ``turn`` (``True == 1`` must not pass)."""
    return type(value) is int and value == turn


class _EffectGuard:
    """Contains an effect's exception so that it cannot escape the machine."""

    __slots__ = ("_model", "_name")

    def __init__(self, model: SessionModel, name: str) -> None:
        self._model = model
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
            self._model.effect_failed(self._name, exc)
            return True
        return False


class SessionModel:
    """Per-session data the guards read and the actions change, plus the actions themselves."""

    def __init__(
        self,
        effects: Effects,
        *,
        max_reply_attempts: int,
        max_failed_turns: int,
        on_effect_failure: Callable[[str], None],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.state = INITIAL_STATE.value  # kept up to date by transitions
        self.effects = effects
        self.turn = 0
        self.end_reason: EndReason | None = None
        self.effect_failures: Counter[str] = Counter()
        self._max_attempts = max_reply_attempts
        self._attempt = 0
        self._max_failed_turns = max_failed_turns
        self._failed_turns = 0  # in a row: a reply played to its end starts the count again
        self._user_text = ""
        self._on_effect_failure = on_effect_failure
        self._log = log

    def effect_failed(self, name: str, exc: Exception) -> None:
        self.effect_failures[name] += 1
        # The exception's message may carry provider details or secrets: log its type only.
        self._log.error(
            "lifecycle effect failed",
            extra={"effect": name, "error_type": type(exc).__name__, "session_state": self.state},
        )
        self._on_effect_failure(name)

    def _effect(self, name: str) -> _EffectGuard:
        return _EffectGuard(self, name)

    # -- guards -------------------------------------------------------------------------------

    def is_current_turn(self, event: EventData) -> bool:
        return is_turn_token(event.kwargs.get("turn"), self.turn)

    def has_user_text(self, event: EventData) -> bool:
        text = event.kwargs.get("text")
        return isinstance(text, str) and bool(text.strip())

    def may_retry(self, event: EventData) -> bool:
        return self._attempt < self._max_attempts

    def may_apologise(self, event: EventData) -> bool:
        """This failed turn is not yet the ``max_failed_turns``-th in a row."""
        return self._failed_turns + 1 < self._max_failed_turns

    # -- actions ------------------------------------------------------------------------------

    def load_context(self, event: EventData) -> None:
        with self._effect("load_context"):
            self.effects.load_context()

    def start_greeting(self, event: EventData) -> None:
        with self._effect("start_greeting"):
            self.effects.start_greeting(self.turn)

    def listen(self, event: EventData) -> None:
        with self._effect("listen"):
            self.effects.listen(self.turn)

    def begin_turn(self, event: EventData) -> None:
        self.turn += 1
        self._attempt = 1
        self._user_text = str(event.kwargs["text"])
        self._record(Utterance("user", self._user_text, self.turn))

    def start_reply(self, event: EventData) -> None:
        with self._effect("start_reply"):
            self.effects.start_reply(self.turn, self._user_text, self._attempt)

    def retry_reply(self, event: EventData) -> None:
        self._attempt += 1
        self.start_reply(event)

    def stop_speech(self, event: EventData) -> None:
        # Runs on exit, so the model is still in the state being left.
        if event.event.name not in SPEECH_COMPLETIONS[State(self.state)]:
            with self._effect("interrupt"):
                self.effects.interrupt(self.turn)

    def record_reply(self, event: EventData) -> None:
        spoken = event.kwargs.get("spoken")
        if isinstance(spoken, str) and spoken:
            interrupted = event.event.name not in _COMPLETED_SPEECH
            self._record(Utterance("assistant", spoken, self.turn, interrupted))

    def apologise(self, event: EventData) -> None:
        self._failed_turns += 1
        with self._effect("apologise"):
            self.effects.apologise(self.turn)

    def clear_failures(self, event: EventData) -> None:
        self._failed_turns = 0

    def note_end_reason(self, event: EventData) -> None:
        if self.end_reason is None:
            # Giving up on replies that keep failing is a fatal error like any other.
            name = event.event.name
            failed = name == Trigger.REPLY_FAILED
            self.end_reason = EndReason.FATAL_ERROR if failed else EndReason(name)

    def say_farewell(self, event: EventData) -> None:
        if self.end_reason in FAREWELL_REASONS:
            with self._effect("say_farewell"):
                self.effects.say_farewell()

    def flush(self, event: EventData) -> None:
        with self._effect("flush"):
            self.effects.flush(self._ended_because)

    def shut_down(self, event: EventData) -> None:
        with self._effect("shut_down"):
            self.effects.shut_down(self._ended_because)

    @property
    def _ended_because(self) -> EndReason:
        # Every edge into persisting notes its reason; the fallback only guards a table edit.
        return self.end_reason or EndReason.FATAL_ERROR

    def _record(self, utterance: Utterance) -> None:
        with self._effect("append_history"):
            self.effects.append_history(utterance)
        with self._effect("enqueue_write"):
            self.effects.enqueue_write(utterance)
