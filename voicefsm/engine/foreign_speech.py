"""Turns livekit answers on its own: ``session.run``, a plain livekit agent after a handoff, an
``AgentTask``'s questions, a tool's ``session.say``.

voicefsm decides when its agent replies, but livekit also starts speeches by itself. Each one
is told apart from the pipeline's own a tick after livekit announces it (it announces them from
inside ``say``/``generate_reply``, before the caller holds the handle). A user message livekit
added with such a speech becomes a lifecycle turn whose reply is that speech
(:class:`~voicefsm.engine.turn_sources.AdoptedReply`); a speech with no turn of its own, once
heard, joins the record (``Spoke``). Either way the lifecycle and the history see everything the
agent says.

The first speech an agent's ``on_enter`` starts is the call's greeting, even when it is heard
before the context is loaded (a fast greeting, a slow backend): it is held back from the
record until the greeting takes it, so it is recorded once, as the greeting, and never read
back by the context lookup as an earlier call's message. A call that resumes instead (it does
not greet) records it as said.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle

from voicefsm.agent.overrides import in_on_enter
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.speech import spoken_text
from voicefsm.engine.turn_sources import AdoptedReply
from voicefsm.lifecycle import Lifecycle, Spoke, State, TimelineEntry, UserTurnCompleted

#: Before the greeting: an on_enter speech done by then is held for it.
_BEFORE_GREETING = frozenset({State.JOINING, State.LOADING_CONTEXT})


class OwnSpeeches(Protocol):
    """What the sorter asks about the speeches voicefsm started itself (implemented by
    :class:`~voicefsm.engine.pipeline.Pipeline`)."""

    def is_own(self, handle: SpeechHandle) -> bool:
        """True for a speech voicefsm started (greeting, reply, apology, farewell...)."""

    def sent(self, message: llm.ChatMessage) -> bool:
        """True for a user message voicefsm handed to ``generate_reply``."""

    def adopted(self, handle: SpeechHandle) -> bool:
        """True for a speech of livekit's already taken as a turn's reply."""


class ForeignSpeeches:
    """Sorts the session's speeches and turns livekit's own into lifecycle triggers: a user
    turn through ``turns`` (it may come before the lifecycle can take one), what was said
    outside a turn straight into ``lifecycle``."""

    def __init__(self, lifecycle: Lifecycle, own: OwnSpeeches, turns: EarlyTurns) -> None:
        self._lifecycle = lifecycle
        self._own = own
        self._turns = turns
        self._unsorted: dict[str, SpeechHandle] = {}
        self._foreign: dict[str, SpeechHandle] = {}
        self._on_entry: set[str] = set()  # speeches an agent's on_enter started
        #: The first agent's on_enter speech, heard before the greeting could take it.
        self._held: SpeechHandle | None = None
        lifecycle.subscribe(self._moved)

    def speech_created(self, handle: SpeechHandle) -> None:
        self._unsorted[handle.id] = handle
        if in_on_enter():
            self._on_entry.add(handle.id)
        asyncio.get_running_loop().call_soon(self._sort)

    def user_message(self, message: llm.ChatMessage) -> None:
        """livekit added a user message: a turn it answers itself, unless voicefsm sent it."""
        if self._own.sent(message):
            return
        self._sort()
        text = (message.text_content or "").strip()
        reply = self._newest_unclaimed()
        if text and reply is not None:
            self._turns.hand_over(UserTurnCompleted(text, source=AdoptedReply(reply)))

    def entry_speech(self) -> SpeechHandle | None:
        """The speech the agent's ``on_enter`` started that the greeting takes as its own: the
        one heard already (held for it), else the first still going that no turn claims."""
        self._sort()
        held, self._held = self._held, None
        if held is not None:
            return held
        for handle in self._foreign.values():
            if handle.id in self._on_entry and not self._claimed(handle) and not handle.done():
                return handle
        return None

    def _sort(self) -> None:
        unsorted, self._unsorted = self._unsorted, {}
        for handle in unsorted.values():
            if self._own.is_own(handle) or handle.done():
                self._on_entry.discard(handle.id)
                continue
            self._foreign[handle.id] = handle
            handle.add_done_callback(self._done)

    def _claimed(self, handle: SpeechHandle) -> bool:
        # A speech answering a turn that waits for the lifecycle is that turn's already.
        return self._own.adopted(handle) or self._turns.holds(handle)

    def _newest_unclaimed(self) -> SpeechHandle | None:
        for handle in reversed(list(self._foreign.values())):
            if not self._claimed(handle) and not handle.done():
                return handle
        return None

    def _done(self, handle: SpeechHandle) -> None:
        self._foreign.pop(handle.id, None)
        on_entry = handle.id in self._on_entry
        self._on_entry.discard(handle.id)
        if self._claimed(handle):
            return  # a turn's reply: the pipeline reports how it ended
        if on_entry and self._held is None and self._lifecycle.state in _BEFORE_GREETING:
            self._held = handle  # the greeting's, once the context is loaded
            return
        self._record(handle)

    def _moved(self, entry: TimelineEntry) -> None:
        """The call went on without greeting (it resumed, or ended while loading): what the
        agent said on entering is recorded as said."""
        if self._held is not None and entry.dest not in (*_BEFORE_GREETING, State.GREETING):
            held, self._held = self._held, None
            self._record(held)  # queued by the lifecycle after this transition

    def _record(self, handle: SpeechHandle) -> None:
        spoken = spoken_text(handle)
        # The agent's words outside a turn (a handoff's greeting, a tool's or a hook's say), as
        # heard; one cut off before a word still shows on the timeline.
        if spoken or handle.interrupted:
            self._lifecycle.fire(Spoke(spoken, interrupted=handle.interrupted))
