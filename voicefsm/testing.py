"""Helpers for testing lifecycles in isolation: no audio, no network, no event loop."""

from __future__ import annotations

from typing import NamedTuple

from voicefsm.lifecycle.effects import Utterance
from voicefsm.lifecycle.states import EndReason
from voicefsm.lifecycle.triggers import UserTurnCompleted


class EffectCall(NamedTuple):
    """One call the machine made on its effects."""

    name: str
    args: tuple[object, ...]


class NullEffects:
    """An :class:`~voicefsm.lifecycle.Effects` that does nothing: for timing the machine alone,
    or as a base for effects that implement only a few methods."""

    def load_context(self) -> None: ...
    def start_greeting(self, turn: int) -> None: ...
    def listen(self, turn: int) -> None: ...
    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None: ...
    def interrupt(self, turn: int) -> None: ...
    def apologise(self, turn: int) -> None: ...
    def record(self, utterance: Utterance) -> None: ...
    def say_farewell(self) -> None: ...
    def flush(self, reason: EndReason) -> None: ...
    def shut_down(self, reason: EndReason) -> None: ...


class InjectedEffectError(RuntimeError):
    """Raised by :class:`RecordingEffects` for the effects it was told to fail."""


class RecordingEffects:
    """An :class:`~voicefsm.lifecycle.Effects` that records every call in order.

    ``fail`` names effects that raise :class:`InjectedEffectError` once recorded, to exercise the
    machine's containment of broken effects.
    """

    def __init__(self, *, fail: frozenset[str] = frozenset()) -> None:
        self.calls: list[EffectCall] = []
        self.fail = fail

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def history(self) -> list[Utterance]:
        """Every utterance recorded, in order."""
        return [arg for call in self.calls if call.name == "record" for arg in call.args]  # type: ignore[misc]

    def _call(self, name: str, *args: object) -> None:
        self.calls.append(EffectCall(name, args))
        if name in self.fail:
            msg = f"{name} failed on purpose"
            raise InjectedEffectError(msg)

    def load_context(self) -> None:
        self._call("load_context")

    def start_greeting(self, turn: int) -> None:
        self._call("start_greeting", turn)

    def listen(self, turn: int) -> None:
        self._call("listen", turn)

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        self._call("start_reply", turn, request, attempt)

    def interrupt(self, turn: int) -> None:
        self._call("interrupt", turn)

    def apologise(self, turn: int) -> None:
        self._call("apologise", turn)

    def record(self, utterance: Utterance) -> None:
        self._call("record", utterance)

    def say_farewell(self) -> None:
        self._call("say_farewell")

    def flush(self, reason: EndReason) -> None:
        self._call("flush", reason)

    def shut_down(self, reason: EndReason) -> None:
        self._call("shut_down", reason)
