"""The speeches a session starts, and the deadline on their first audio.

livekit waits as long as a provider's request stays open, so an LLM or TTS that hangs without
ever timing out would keep a reply "thinking" forever. Each speech voicefsm starts (greeting,
reply, apology, farewell) is tracked by its handle id with the turn it belongs to; one with no
audio by ``reply_start_deadline_s`` is given up on (:class:`StartDeadlines`), and one whose
synthesis failed counts as failed even when livekit ends it quietly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle


class SpeechKind(StrEnum):
    GREETING = "greeting"
    REPLY = "reply"
    APOLOGY = "apology"
    FAREWELL = "farewell"


@dataclass(frozen=True, slots=True)
class Speech:
    """A speech voicefsm started: its handle, what it is, the turn it belongs to."""

    handle: SpeechHandle
    kind: SpeechKind
    turn: int


def assistant_message(handle: SpeechHandle) -> llm.ChatMessage | None:
    """The agent's message a speech produced, if livekit recorded one."""
    for item in reversed(handle.chat_items):
        if item.type == "message" and item.role == "assistant":
            return item
    return None


def spoken_text(handle: SpeechHandle) -> str:
    """What the agent actually said for this speech (livekit truncates it on interruption)."""
    message = assistant_message(handle)
    return (message.text_content or "") if message is not None else ""


class StartDeadlines:
    """A timer per speech from its start to its first audio; ``on_overdue`` gets the speeches
    that miss it and says whether it gave the speech up. A speech given up on is remembered, so
    its late completion is ignored."""

    def __init__(self, deadline_s: float, on_overdue: Callable[[Speech], bool]) -> None:
        self._deadline_s = deadline_s
        self._on_overdue = on_overdue
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._abandoned: set[str] = set()

    def arm(self, speech: Speech) -> None:
        loop = asyncio.get_running_loop()
        self._timers[speech.handle.id] = loop.call_later(self._deadline_s, self._overdue, speech)

    def started(self, speech_id: str) -> None:
        """The speech's first audio (or its end) came: no deadline any more."""
        timer = self._timers.pop(speech_id, None)
        if timer is not None:
            timer.cancel()

    def was_abandoned(self, speech_id: str) -> bool:
        """True (once) for a speech already failed at its deadline."""
        if speech_id in self._abandoned:
            self._abandoned.discard(speech_id)
            return True
        return False

    def clear(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _overdue(self, speech: Speech) -> None:
        self._timers.pop(speech.handle.id, None)
        if not speech.handle.done() and self._on_overdue(speech):
            self._abandoned.add(speech.handle.id)
