"""Turns livekit answers on its own: ``session.run``, a plain livekit agent after a handoff, an
``AgentTask``'s questions, a tool's ``session.say``.

voicefsm decides when its agent replies, but livekit also starts speeches by itself. Each one
is told apart from the pipeline's own a tick after livekit announces it (it announces them from
inside ``say``/``generate_reply``, before the caller holds the handle). A user message livekit
added with such a speech becomes a lifecycle turn whose reply is that speech
(:class:`AdoptedReply`); a speech with no turn of its own, once heard, joins the record
(``Spoke``). Either way the lifecycle and the history see everything the agent says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle

from voicefsm.engine.speech import spoken_text
from voicefsm.lifecycle import Spoke, TriggerData, UserTurnCompleted


@dataclass(frozen=True, slots=True)
class AdoptedReply:
    """A reply livekit started on its own (``session.run``, a plain livekit agent answering,
    an ``AgentTask``): the turn is the lifecycle's, the speech already exists."""

    handle: SpeechHandle


class ForeignSpeeches:
    """Sorts the session's speeches and turns livekit's own into lifecycle triggers."""

    def __init__(
        self,
        *,
        is_own: Callable[[SpeechHandle], bool],
        sent: Callable[[llm.ChatMessage], bool],
        adopted: Callable[[SpeechHandle], bool],
        fire: Callable[[TriggerData], object],
    ) -> None:
        self._is_own = is_own
        self._sent = sent
        self._adopted = adopted
        self._fire = fire
        self._unsorted: dict[str, SpeechHandle] = {}
        self._foreign: dict[str, SpeechHandle] = {}

    def speech_created(self, handle: SpeechHandle) -> None:
        self._unsorted[handle.id] = handle
        asyncio.get_running_loop().call_soon(self._sort)

    def user_message(self, message: llm.ChatMessage) -> None:
        """livekit added a user message: a turn it answers itself, unless voicefsm sent it."""
        if self._sent(message):
            return
        self._sort()
        text = (message.text_content or "").strip()
        reply = self._newest_unclaimed()
        if text and reply is not None:
            self._fire(UserTurnCompleted(text, source=AdoptedReply(reply)))

    def _sort(self) -> None:
        unsorted, self._unsorted = self._unsorted, {}
        for handle in unsorted.values():
            if self._is_own(handle) or handle.done():
                continue
            self._foreign[handle.id] = handle
            handle.add_done_callback(self._done)

    def _newest_unclaimed(self) -> SpeechHandle | None:
        for handle in reversed(list(self._foreign.values())):
            if not self._adopted(handle) and not handle.done():
                return handle
        return None

    def _done(self, handle: SpeechHandle) -> None:
        self._foreign.pop(handle.id, None)
        if self._adopted(handle):
            return  # a turn's reply: the pipeline reports how it ended
        spoken = spoken_text(handle)
        if spoken:  # the agent's words outside a turn: a handoff's greeting, a tool's say
            self._fire(Spoke(spoken, interrupted=handle.interrupted))
