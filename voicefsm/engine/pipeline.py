"""The speaking effects of the lifecycle over livekit's ``AgentSession``, and their completions.

Each effect starts a speech (``say`` or ``generate_reply``) and returns; the speech's handle
reports back when it is done, and that becomes a trigger fired into the lifecycle, carrying the
turn it was started for: ``Greeted``, ``ReplyFinished``, ``Interrupted``, ``ReplyFailed``,
``Spoke``. A reply is enriched with backend context (bounded) before it is generated; an old
turn's late start is dropped. The pipeline also tells the session's other parts which speeches
are its own (:class:`~voicefsm.engine.foreign_speech.OwnSpeeches`) and follows a reply's tools
(:class:`~voicefsm.engine.tool_watch.ToolReplies`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice import SpeechHandle

from voicefsm import livekit_compat
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.enrichment import Enrichment, context_block
from voicefsm.engine.latency import TurnLatencies
from voicefsm.engine.phrases import Phrases
from voicefsm.engine.speech import (
    Speech,
    SpeechKind,
    StartDeadlines,
    spoken_text,
)
from voicefsm.engine.turn_sources import AdoptedReply, UserMessage
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import (
    Greeted,
    Interrupted,
    Lifecycle,
    ReplyFailed,
    ReplyFinished,
    ReplyStarted,
    Spoke,
    State,
    UserTurnCompleted,
)
from voicefsm.lifecycle.states import LIVE_STATES


class Pipeline:
    """Greeting, replies, interruptions, apologies and the farewell of one session."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        lifecycle: Lifecycle,
        *,
        writes: SessionWrites,
        enrichment: Enrichment,
        phrases: Phrases,
        reply_start_deadline_s: float,
        tasks: CallTasks,
        latencies: TurnLatencies,
    ) -> None:
        self._session = agent_session
        self._lifecycle = lifecycle
        self._writes = writes
        self._enrichment = enrichment
        self.phrases = phrases
        self._tasks = tasks
        self._latencies = latencies
        self._deadlines = StartDeadlines(reply_start_deadline_s, self._start_overdue)
        self._replies: dict[str, int] = {}  # reply speech id -> its turn
        self._speeches: dict[str, Speech] = {}  # every speech started, until it is done
        self._failed_syntheses: set[str] = set()
        self._no_reply_wanted: set[str] = set()  # replies whose tools asked for no answer
        self._on_tools: set[str] = set()  # replies waiting on their tools
        self.farewell: SpeechHandle | None = None
        self.closed = False  # livekit's close event came: nothing more can be said
        self._latest: SpeechHandle | None = None  # the last greeting or reply started
        self._own: set[str] = set()  # every speech this pipeline started
        self._sent: set[str] = set()  # ids of the user messages handed to generate_reply
        self._adopted: set[str] = set()
        self._agent_greeting: Callable[[], SpeechHandle | None] = _none

    def greet_with(self, agent_greeting: Callable[[], SpeechHandle | None]) -> None:
        """Where the greeting looks for a speech the agent started itself on entering (a
        LiveKit ``on_enter`` that greets): that speech is the greeting, not one more."""
        self._agent_greeting = agent_greeting

    # -- effects -------------------------------------------------------------------------------

    def start_greeting(self, turn: int) -> None:
        handle = self._agent_greeting()
        if handle is not None:
            self._adopted.add(handle.id)
        else:
            handle = self._session.say(self.phrases.greeting)
        self._track(Speech(handle, SpeechKind.GREETING, turn))

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        source = request.source
        if isinstance(source, AdoptedReply) and attempt == 1:
            # livekit is already answering this turn: the reply is that speech.
            self._adopted.add(source.handle.id)
            self._replies[source.handle.id] = turn
            self._track(Speech(source.handle, SpeechKind.REPLY, turn))
            return
        self._tasks.spawn(self._reply(turn, request, attempt), "voicefsm-reply")

    async def _reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        snippets = await self._enrichment.snippets(request.text)
        lifecycle = self._lifecycle
        if lifecycle.state is not State.THINKING or lifecycle.turn != turn or self.cannot_speak:
            return  # a newer turn, or the end of the call, overtook this one while enriching
        kwargs: dict[str, Any] = {}
        source = request.source
        if isinstance(source, UserMessage):
            # A retry answers the message livekit already added to the history.
            message = source.message
            if not any(item.id == message.id for item in self._session.history.items):
                kwargs["user_input"] = message
                self._sent.add(message.id)
        elif not isinstance(source, AdoptedReply):  # an adopted turn's message is in history
            kwargs["user_input"] = request.text
        if snippets:
            kwargs["instructions"] = context_block(snippets)
        handle = self._session.generate_reply(**kwargs)
        self._replies[handle.id] = turn
        self._track(Speech(handle, SpeechKind.REPLY, turn))

    def interrupt(self) -> None:
        """Stop this session's greeting or reply (only it: a speech livekit queued after it,
        such as a ``session.run`` turn, must go on). A reply waiting on a tool is left alone:
        livekit never stops a running tool, and an ``AgentTask`` runs inside one."""
        speech = self.unfinished_speech()
        if speech is None or self.cannot_speak or speech.id in self._on_tools:
            return
        try:
            speech.interrupt()
        except RuntimeError:  # it cannot be interrupted (livekit says why): it plays out
            return

    def apologise(self, turn: int) -> None:
        handle = self._say(self.phrases.apology, add_to_chat_ctx=False, allow_interruptions=True)
        if handle is not None:
            handle.add_done_callback(lambda h: self._aside_done(h, self.phrases.apology))

    def say_filler(self) -> None:
        """A tool is taking a while: a word to the caller (heard, it joins the record)."""
        handle = self._say(self.phrases.filler, add_to_chat_ctx=False, allow_interruptions=True)
        if handle is not None:
            handle.add_done_callback(lambda h: self._aside_done(h, self.phrases.filler))

    def say_farewell(self) -> None:
        self.farewell = self._say(
            self.phrases.farewell, add_to_chat_ctx=True, allow_interruptions=False
        )

    # -- what livekit reports ------------------------------------------------------------------

    @property
    def cannot_speak(self) -> bool:
        return self.closed or livekit_compat.session_is_closing(self._session)

    def audio_started(self, speech_id: str) -> int | None:
        """A speech's first audio is out: its start deadline is met. Returns the turn it
        answers when it is one of this pipeline's replies."""
        self._deadlines.started(speech_id)
        return self._replies.get(speech_id)

    def session_closed(self) -> None:
        """livekit closed the session: nothing more can be said."""
        self.closed = True

    def stop_deadlines(self) -> None:
        """The call is over: no speech's start deadline may fire any more."""
        self._deadlines.clear()

    def synthesis_failed(self, speech: SpeechHandle) -> None:
        """The TTS failed (or stalled) while producing ``speech``: it counts as failed even if
        part of it was heard and livekit ends it quietly."""
        self._failed_syntheses.add(speech.id)

    def _say(
        self, text: str, *, add_to_chat_ctx: bool, allow_interruptions: bool
    ) -> SpeechHandle | None:
        if self.cannot_speak:
            return None
        try:
            handle = self._session.say(
                text, add_to_chat_ctx=add_to_chat_ctx, allow_interruptions=allow_interruptions
            )
        except RuntimeError:  # the session began closing under us: nobody to hear it
            return None
        self._own.add(handle.id)
        return handle

    def is_own(self, handle: SpeechHandle) -> bool:
        """True for a speech this pipeline started (greeting, reply, apology, farewell...)."""
        return handle.id in self._own

    def sent(self, message: llm.ChatMessage) -> bool:
        """True for a user message this pipeline handed to ``generate_reply``."""
        return message.id in self._sent

    def adopted(self, handle: SpeechHandle) -> bool:
        return handle.id in self._adopted

    def unfinished_speech(self) -> SpeechHandle | None:
        """The greeting or reply still being generated or played, if any."""
        latest = self._latest
        return latest if latest is not None and not latest.done() else None

    def _track(self, speech: Speech) -> None:
        self._latest = speech.handle
        self._own.add(speech.handle.id)
        self._speeches[speech.handle.id] = speech
        self._deadlines.arm(speech)
        speech.handle.add_done_callback(lambda _handle: self._speech_done(speech))

    def _speech_done(self, speech: Speech) -> None:
        handle, turn = speech.handle, speech.turn
        self._deadlines.started(handle.id)
        self._speeches.pop(handle.id, None)
        silent = handle.id in self._no_reply_wanted
        self._no_reply_wanted.discard(handle.id)
        if self._deadlines.was_abandoned(handle.id):
            return  # already failed at its start deadline
        spoken = spoken_text(handle)
        error = handle.exception()
        synthesis_failed = handle.id in self._failed_syntheses
        self._failed_syntheses.discard(handle.id)
        greeting = speech.kind is SpeechKind.GREETING
        if turn != self._lifecycle.turn:
            # An older turn's reply, ending after the lifecycle moved on (a tool that outlived
            # a barge-in, an AgentTask's parent): no longer the turn's, but said, so recorded.
            if spoken:
                self._lifecycle.fire(Spoke(spoken, interrupted=handle.interrupted))
            return
        empty = not greeting and not spoken and not handle.interrupted and not silent
        if error is not None or synthesis_failed or empty:
            source = "tts" if greeting or synthesis_failed else "llm"
            self._writes.error(
                source, type(error).__name__ if error else "EmptyReply", recoverable=True
            )
            # What was heard before the failure is kept (as cut off) by the lifecycle.
            self._lifecycle.fire(ReplyFailed(turn, spoken))
            return
        if greeting:
            self._lifecycle.fire((Interrupted if handle.interrupted else Greeted)(turn, spoken))
            return
        self._latencies.reply_finished(handle, turn)
        if handle.interrupted:
            self._lifecycle.fire(Interrupted(turn, spoken))
            return
        if self._lifecycle.state is State.THINKING and not (silent and not spoken):
            self._lifecycle.fire(ReplyStarted(turn))  # it finished before its audio was reported
        self._lifecycle.fire(ReplyFinished(turn, spoken))

    def _aside_done(self, handle: SpeechHandle, text: str) -> None:
        # An apology or a filler: kept out of the LLM's context, but said, so the conversation
        # record has it.
        failed = handle.exception() is not None or handle.id in self._failed_syntheses
        self._failed_syntheses.discard(handle.id)
        if not failed and not handle.interrupted:
            self._lifecycle.fire(Spoke(text))

    # -- tools (voicefsm.engine.tool_watch) --------------------------------------------------------

    def tools_started(self, handle: SpeechHandle) -> None:
        """The reply waits on tools: its start deadline waits too."""
        self._deadlines.started(handle.id)
        self._on_tools.add(handle.id)

    def tools_finished(self, handle: SpeechHandle, reply_wanted: bool) -> None:
        """The reply's tools are done: its answer to them must start in time, or, when they
        asked for none, ending with nothing said is its success."""
        self._on_tools.discard(handle.id)
        if handle.done() or handle.interrupted:
            return
        speech = self._speeches.get(handle.id)
        if not reply_wanted:
            self._no_reply_wanted.add(handle.id)
        elif speech is not None:
            self._deadlines.arm(speech)

    def farewell_spoken(self) -> Spoke | None:
        """The farewell as heard, once it is done (``None`` if none was said)."""
        handle = self.farewell
        if handle is None or not handle.done():
            return None
        spoken = spoken_text(handle)
        return Spoke(spoken, interrupted=handle.interrupted) if spoken else None

    def _start_overdue(self, speech: Speech) -> bool:
        """No audio by the deadline: an LLM or TTS that hangs. Give the speech up now rather
        than when livekit gets round to ending it (a hung request may never end)."""
        if self.cannot_speak or self._lifecycle.state not in LIVE_STATES:
            return False
        self._writes.error("reply", "ReplyStartTimeout", recoverable=True)
        try:
            # Everything queued goes too: a stuck speech ahead of this one would block the next.
            stopping = self._session.interrupt(force=True)
            stopping.add_done_callback(_retrieve_exception)
        except RuntimeError:
            pass  # nothing left to stop
        self._lifecycle.fire(ReplyFailed(speech.turn))
        return True


def _none() -> None:
    return None


def _retrieve_exception(future: asyncio.Future[None]) -> None:
    # An interrupt that failed has nothing left to stop; retrieving it keeps asyncio quiet.
    if not future.cancelled():
        future.exception()
