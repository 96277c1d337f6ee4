"""The guards and actions the transition table names, on the model ``transitions`` drives.

This object is private to :class:`~voicefsm.lifecycle.machine.Lifecycle`, which hands it to the
shared machine's events itself (no trigger methods are bound onto it: nothing reaches the machine
around the lifecycle's queue).
Each action calls only the effects :data:`~voicefsm.lifecycle.table.ACTION_EFFECTS` declares for
it (a generated test holds it to that). ``transitions`` hands every guard and action the
trigger's typed data (:mod:`voicefsm.lifecycle.triggers`) as its one argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from types import TracebackType

from voicefsm.lifecycle.effects import Effects, Utterance
from voicefsm.lifecycle.states import (
    FAREWELL_REASONS,
    INITIAL_STATE,
    EndReason,
    Role,
    State,
    Trigger,
)
from voicefsm.lifecycle.table import SPEECH_COMPLETIONS
from voicefsm.lifecycle.triggers import (
    Completion,
    HandedOff,
    SpeechCompletion,
    Spoke,
    ToolCall,
    ToolFinished,
    TriggerData,
    UserTurnCompleted,
)
from voicefsm.logs import Log

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
        log: Log,
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
        self._request: UserTurnCompleted | None = None  # the turn being answered (retries)
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

    def is_current_turn(self, data: TriggerData) -> bool:
        return isinstance(data, Completion) and is_turn_token(data.turn, self.turn)

    def has_user_text(self, data: TriggerData) -> bool:
        text = data.text if isinstance(data, UserTurnCompleted) else None
        return isinstance(text, str) and bool(text.strip())

    def may_retry(self, data: TriggerData) -> bool:
        return self._attempt < self._max_attempts

    def may_apologise(self, data: TriggerData) -> bool:
        """This failed turn is not yet the ``max_failed_turns``-th in a row."""
        return self._failed_turns + 1 < self._max_failed_turns

    # -- actions ------------------------------------------------------------------------------

    def load_context(self, data: TriggerData) -> None:
        with self._effect("load_context"):
            self.effects.load_context()

    def start_greeting(self, data: TriggerData) -> None:
        with self._effect("start_greeting"):
            self.effects.start_greeting(self.turn)

    def listen(self, data: TriggerData) -> None:
        with self._effect("listen"):
            self.effects.listen(self.turn)

    def begin_turn(self, data: TriggerData) -> None:
        if not isinstance(data, UserTurnCompleted):  # unreachable: only user turns enter thinking
            return
        self.turn += 1
        self._attempt = 1
        self._request = data
        self._record(Utterance(Role.USER, data.text, self.turn))

    def start_reply(self, data: TriggerData) -> None:
        request = self._request
        if request is None:  # unreachable by the table: thinking is entered by a user turn
            return
        with self._effect("start_reply"):
            self.effects.start_reply(self.turn, request, self._attempt)

    def retry_reply(self, data: TriggerData) -> None:
        self._attempt += 1
        self.start_reply(data)

    def stop_speech(self, data: TriggerData) -> None:
        # Runs on exit, so the model is still in the state being left.
        if data.trigger not in SPEECH_COMPLETIONS[State(self.state)]:
            with self._effect("interrupt"):
                self.effects.interrupt(self.turn)

    def record_reply(self, data: TriggerData) -> None:
        spoken = data.spoken if isinstance(data, SpeechCompletion | UserTurnCompleted) else None
        if isinstance(spoken, str) and spoken:
            interrupted = data.trigger not in _COMPLETED_SPEECH
            self._record(Utterance(Role.ASSISTANT, spoken, self.turn, interrupted))

    def record_speech(self, data: TriggerData) -> None:
        if isinstance(data, Spoke) and isinstance(data.spoken, str) and data.spoken:
            self._record(
                Utterance(Role.ASSISTANT, data.spoken, self.turn, data.interrupted is True)
            )

    def record_tool(self, data: TriggerData) -> None:
        if isinstance(data, ToolFinished) and isinstance(data.call, ToolCall):
            with self._effect("record_tool"):
                self.effects.record_tool(data.call)

    def record_handoff(self, data: TriggerData) -> None:
        if isinstance(data, HandedOff):
            with self._effect("record_handoff"):
                self.effects.record_handoff(data)

    def apologise(self, data: TriggerData) -> None:
        self._failed_turns += 1
        with self._effect("apologise"):
            self.effects.apologise(self.turn)

    def clear_failures(self, data: TriggerData) -> None:
        self._failed_turns = 0

    def note_end_reason(self, data: TriggerData) -> None:
        if self.end_reason is None:
            # Giving up on replies that keep failing is a fatal error like any other.
            failed = data.trigger is Trigger.REPLY_FAILED
            self.end_reason = EndReason.FATAL_ERROR if failed else EndReason(data.trigger.value)

    def say_farewell(self, data: TriggerData) -> None:
        if self.end_reason in FAREWELL_REASONS:
            with self._effect("say_farewell"):
                self.effects.say_farewell()

    def flush(self, data: TriggerData) -> None:
        with self._effect("flush"):
            self.effects.flush(self._ended_because)

    def shut_down(self, data: TriggerData) -> None:
        with self._effect("shut_down"):
            self.effects.shut_down(self._ended_because)

    @property
    def _ended_because(self) -> EndReason:
        # Every edge into persisting notes its reason; the fallback only guards a table edit.
        return self.end_reason or EndReason.FATAL_ERROR

    def _record(self, utterance: Utterance) -> None:
        with self._effect("record"):
            self.effects.record(utterance)
