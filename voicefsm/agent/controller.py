"""One voice session: the lifecycle machine driving a livekit ``AgentSession``.

``VoiceSession`` is the lifecycle's :class:`~voicefsm.lifecycle.Effects`: each effect starts
work on the session (a speech, a reply, an interrupt), on the in-memory state (history) or on
the outbox (a write), and returns at once. Completions come back from livekit (speech handles
finishing, agent state changes, session close) and are fired into the lifecycle with the turn
they belong to, so a late one is refused. Every history item and session event goes to the
outbox; nothing on the voice path waits on the backend except the bounded context reads the
design allows (recent messages at start, enrichment per turn, each under its own deadline).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice import events as lk_events
from livekit.agents.voice.speech_handle import SpeechHandle

from voicefsm.agent.prompts import APOLOGY, FAREWELL, context_block
from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import ErrorEvent, SpeechEvent, TranscriptionEvent, storable_text
from voicefsm.context import ParticipantMetadata, RoomMetadata, greeting_for
from voicefsm.errors import OutboxError, SpoolFullError
from voicefsm.lifecycle import EndReason, Lifecycle, State, Trigger, Utterance
from voicefsm.lifecycle.states import LIVE_STATES
from voicefsm.persistence.outbox import Outbox
from voicefsm.session import HistoryItem, SessionState

_LOG = logging.getLogger("voicefsm.agent")


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Deadlines and limits of one session (defaults suit production; tests shorten them)."""

    history_deadline_s: float = 1.0  # recent messages at session start
    context_deadline_s: float = 0.15  # enrichment of a user turn
    flush_deadline_s: float = 8.0  # outbox flush while persisting
    farewell_deadline_s: float = 4.0
    recent_messages: int = 20
    max_reply_attempts: int = 2
    #: Failed turns in a row that end the session (its providers are down for good).
    max_failed_turns: int = 3
    #: From starting a reply (or the greeting) to its first audio. A provider that hangs
    #: without ever timing out is cut off here, and the reply counts as failed.
    reply_start_deadline_s: float = 8.0
    #: Longest silence allowed between two audio frames of one synthesis (a stalled TTS).
    audio_stall_deadline_s: float = 5.0


@dataclass
class TurnLatency:
    """livekit's per-turn figures for one reply (from ``ChatMessage.metrics``)."""

    turn: int
    e2e_latency_s: float | None = None
    llm_ttft_s: float | None = None
    tts_ttfb_s: float | None = None
    end_of_turn_delay_s: float | None = None


@dataclass
class _TurnInput:
    message: llm.ChatMessage
    snippets: list[str] = field(default_factory=list)


Finished = Callable[[EndReason], Awaitable[None] | None]


class VoiceSession:
    """Effects of the lifecycle, implemented over a livekit ``AgentSession``."""

    def __init__(
        self,
        session: AgentSession[Any],
        *,
        session_id: str,
        room: RoomMetadata,
        participant: ParticipantMetadata,
        outbox: Outbox | None,
        client: BackendClient | None,
        options: SessionOptions | None = None,
        on_finished: Finished | None = None,
    ) -> None:
        self.session = session
        self.room = room
        self.participant = participant
        self.options = options or SessionOptions()
        self.conversation_id = room.conversation_id or f"c_{uuid.uuid4().hex}"
        self.state = SessionState(session_id, self.conversation_id)
        self.outbox = outbox
        if outbox is not None:
            outbox.claim(self.conversation_id)
        self.client = client
        self._log = logging.LoggerAdapter(_LOG, {"session_id": session_id})
        self.lifecycle = Lifecycle(
            self,
            max_reply_attempts=self.options.max_reply_attempts,
            max_failed_turns=self.options.max_failed_turns,
            log=self._log,
        )
        self.latencies: dict[int, TurnLatency] = {}
        #: Told of each reply's latency figures as livekit reports them (metrics hook).
        self.on_latency: Callable[[TurnLatency], None] | None = None
        self.finished = asyncio.Event()
        self._on_finished = on_finished
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turn_input: dict[int, _TurnInput] = {}
        self._pending_input: _TurnInput | None = None
        self._reply_turns: dict[str, int] = {}
        self._start_deadlines: dict[str, asyncio.TimerHandle] = {}
        self._abandoned: set[str] = set()  # speeches given up on at their start deadline
        self._failed_syntheses: set[str] = set()
        self._listening_turn = 0
        self._recorded: tuple[Utterance, HistoryItem] | None = None
        self._farewell: SpeechHandle | None = None
        self._session_closed = False
        self._context_degraded_until = 0.0
        self._wire_events()

    # -- helpers -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "session task failed",
                extra={"task": task.get_name(), "error_type": type(task.exception()).__name__},
            )

    def _write(self, kind: str, hand_over: Callable[[Outbox], None]) -> None:
        if self.outbox is None:
            return
        try:
            hand_over(self.outbox)
            self.state.metrics.writes += 1
        except SpoolFullError:
            # The call goes on; the write cannot be kept. Loud, counted, never silent.
            self.state.metrics.writes_refused += 1
            self._log.error("outbox full: write refused", extra={"kind": kind})
        except OutboxError:
            # The outbox is already closed (a livekit event arriving after the job let go):
            # never acknowledged, so nothing promised is lost; counted and logged all the same.
            self.state.metrics.writes_refused += 1
            self._log.error("outbox closed: write refused", extra={"kind": kind})

    def _submit(self, event: Any) -> None:  # noqa: ANN401 (any contract event)
        self._write(event.kind, lambda outbox: outbox.submit_event(self.conversation_id, event))

    # -- inputs from the agent -------------------------------------------------------------------

    async def user_turn(self, message: llm.ChatMessage) -> None:
        """A completed user turn, spoken or typed: enrich it (bounded), then hand it over."""
        text = (message.text_content or "").strip()
        if not text:
            return
        snippets = await self._enrichment(text)
        self._pending_input = _TurnInput(message, snippets)
        self.lifecycle.fire(Trigger.USER_TURN_COMPLETED, text=text)
        self._pending_input = None

    async def typed_text(self, text: str) -> None:
        """Typed chat from the room (``lk.chat``) takes the same path as speech."""
        await self.user_turn(llm.ChatMessage(role="user", content=[text]))

    async def _enrichment(self, text: str) -> list[str]:
        loop = asyncio.get_running_loop()
        if self.client is None or loop.time() < self._context_degraded_until:
            return []
        try:
            async with asyncio.timeout(self.options.context_deadline_s):
                return await self.client.context_for(
                    self.conversation_id, text, session_id=self.state.session_id
                )
        except TimeoutError:
            # A slow backend must not tax every turn: skip enrichment for a while.
            self._context_degraded_until = loop.time() + 30.0
            self._log.warning("context enrichment skipped: backend too slow")
            return []

    def session_closing(self) -> None:
        self._session_closed = True

    def end(self, reason: EndReason = EndReason.HANG_UP) -> None:
        """End the conversation from outside (agent decision, job shutdown, the simulator)."""
        self.lifecycle.fire(Trigger(reason.value))

    # -- Effects ------------------------------------------------------------------------------

    def load_context(self) -> None:
        self._spawn(self._load_context(), "voicefsm-load-context")

    async def _load_context(self) -> None:
        messages = None
        if self.client is not None and self.room.conversation_id:
            if self.outbox is not None:  # a crashed predecessor's last writes go first
                await self.outbox.flush(min(0.3, self.options.history_deadline_s / 3))
            try:
                async with asyncio.timeout(self.options.history_deadline_s):
                    messages = await self.client.recent_messages(
                        self.conversation_id, self.options.recent_messages
                    )
            except TimeoutError:
                messages = None
        if messages:
            self.state.preload(messages)
            agent = self.session.current_agent
            context = agent.chat_ctx.copy()
            for message in messages:
                context.add_message(role=message.role.value, content=message.text)
            await agent.update_chat_ctx(context)
            self.lifecycle.fire(Trigger.RESUMED)
        else:
            self.lifecycle.fire(Trigger.CONTEXT_LOADED)

    def start_greeting(self, turn: int) -> None:
        handle = self.session.say(greeting_for(self.room, self.participant))
        self._watch_start(handle, turn)
        handle.add_done_callback(lambda h: self._speech_done(h, turn, greeting=True))

    def listen(self, turn: int) -> None:
        self._listening_turn = turn

    def start_reply(self, turn: int, user_text: str, attempt: int) -> None:
        if self._pending_input is not None:
            self._turn_input[turn] = self._pending_input
        turn_input = self._turn_input.get(turn)
        kwargs: dict[str, Any] = {}
        if turn_input is not None:
            in_history = any(
                item.id == turn_input.message.id for item in self.session.history.items
            )
            if not in_history:
                kwargs["user_input"] = turn_input.message
            if turn_input.snippets:
                kwargs["instructions"] = context_block(turn_input.snippets)
        else:
            kwargs["user_input"] = user_text
        handle = self.session.generate_reply(**kwargs)
        self._reply_turns[handle.id] = turn
        self._watch_start(handle, turn)
        handle.add_done_callback(lambda h: self._speech_done(h, turn, greeting=False))

    def interrupt(self, turn: int) -> None:
        if not self._session_closed:
            self.session.interrupt()

    def apologise(self, turn: int) -> None:
        if self._session_closed:
            return
        try:
            handle = self.session.say(APOLOGY, add_to_chat_ctx=False)
        except RuntimeError:  # the session began closing under us: nobody to hear it
            return
        handle.add_done_callback(self._apology_done)

    def _apology_done(self, handle: SpeechHandle) -> None:
        # Kept out of the LLM's context, but it was said: the conversation record has it.
        failed = handle.exception() is not None or handle.id in self._failed_syntheses
        if not failed and not handle.interrupted:
            utterance = Utterance("assistant", APOLOGY, self.lifecycle.turn)
            self.append_history(utterance)
            self.enqueue_write(utterance)

    def append_history(self, utterance: Utterance) -> None:
        self._recorded = (utterance, self.state.record(utterance))

    def enqueue_write(self, utterance: Utterance) -> None:
        recorded = self._recorded
        item = (
            recorded[1] if recorded and recorded[0] is utterance else self.state.record(utterance)
        )
        build = partial(self.state.message_event, item)  # built on the outbox's writer thread
        self._write(
            "message", lambda outbox: outbox.submit_built(self.conversation_id, item.id, build)
        )

    def say_farewell(self) -> None:
        if not self._session_closed:
            try:
                self._farewell = self.session.say(FAREWELL, allow_interruptions=False)
            except RuntimeError:  # the session began closing under us: nobody to hear it
                self._farewell = None

    def flush(self, reason: EndReason) -> None:
        self._spawn(self._persist(reason), "voicefsm-persist")

    async def _persist(self, reason: EndReason) -> None:
        if self._farewell is not None and not self._session_closed:
            try:
                async with asyncio.timeout(self.options.farewell_deadline_s):
                    await self._farewell
            except TimeoutError:
                pass
            self._record_farewell()
        pending = 0
        if self.outbox is not None:
            self.outbox.submit_session(self.state.summary(reason, self.lifecycle.timeline))
            pending = await self.outbox.flush(self.options.flush_deadline_s)
        self.lifecycle.fire(Trigger.PERSISTED, pending=pending)

    def _record_farewell(self) -> None:
        handle = self._farewell
        if handle is None:
            return
        spoken = _spoken_text(handle)
        if spoken:
            utterance = Utterance("assistant", spoken, self.lifecycle.turn, handle.interrupted)
            self.append_history(utterance)
            self.enqueue_write(utterance)

    def shut_down(self, reason: EndReason) -> None:
        self._spawn(self._shut_down(reason), "voicefsm-shut-down")

    async def _shut_down(self, reason: EndReason) -> None:
        for deadline in self._start_deadlines.values():
            deadline.cancel()
        self._start_deadlines.clear()
        try:
            if not self._session_closed:
                await self.session.aclose()
            if self._on_finished is not None:
                result = self._on_finished(reason)
                if result is not None:
                    await result
        finally:
            self.finished.set()

    # -- deadlines -----------------------------------------------------------------------------

    def _watch_start(self, handle: SpeechHandle, turn: int) -> None:
        loop = asyncio.get_running_loop()
        self._start_deadlines[handle.id] = loop.call_later(
            self.options.reply_start_deadline_s, self._start_overdue, handle, turn
        )

    def _started(self, speech_id: str) -> None:
        deadline = self._start_deadlines.pop(speech_id, None)
        if deadline is not None:
            deadline.cancel()

    def _start_overdue(self, handle: SpeechHandle, turn: int) -> None:
        """No audio by the deadline: an LLM or TTS that hangs. Give the speech up now rather
        than when livekit gets round to ending it (a hung request may never end)."""
        self._start_deadlines.pop(handle.id, None)
        if handle.done() or self._session_closed or self.lifecycle.state not in LIVE_STATES:
            return
        self._abandoned.add(handle.id)
        self._submit_error("reply", "ReplyStartTimeout")
        try:
            # Everything queued goes too: a stuck speech ahead of this one would block the next.
            stopping = self.session.interrupt(force=True)
            stopping.add_done_callback(_retrieve_exception)
        except RuntimeError:
            self._log.warning("could not stop an overdue speech")
        self.lifecycle.fire(Trigger.REPLY_FAILED, turn=turn)

    def synthesis_failed(self, speech: SpeechHandle) -> None:
        """The TTS failed (or stalled) while producing ``speech``: it counts as failed even if
        part of it was heard and livekit ends it quietly."""
        self._failed_syntheses.add(speech.id)

    def _submit_error(self, source: str, error_type: str) -> None:
        self._submit(
            ErrorEvent(
                idempotency_key=self.state.next_key(),
                session_id=self.state.session_id,
                at=self.state.now(),
                source=source,
                error_type=error_type,
                recoverable=True,
            )
        )

    # -- completions from livekit --------------------------------------------------------------

    def _speech_done(self, handle: SpeechHandle, turn: int, *, greeting: bool) -> None:
        self._started(handle.id)
        if handle.id in self._abandoned:
            self._abandoned.discard(handle.id)
            return  # already failed at its start deadline
        spoken = _spoken_text(handle)
        error = handle.exception()
        synthesis_failed = handle.id in self._failed_syntheses
        self._failed_syntheses.discard(handle.id)
        empty = not greeting and not spoken and not handle.interrupted
        if error is not None or synthesis_failed or empty:
            source = "tts" if greeting or synthesis_failed else "llm"
            self._submit_error(source, type(error).__name__ if error else "EmptyReply")
            # What was heard before the failure is kept (as cut off) by the lifecycle.
            self.lifecycle.fire(Trigger.REPLY_FAILED, turn=turn, spoken=spoken)
            return
        if greeting:
            trigger = Trigger.INTERRUPTED if handle.interrupted else Trigger.GREETED
            self.lifecycle.fire(trigger, turn=turn, spoken=spoken)
            return
        self._record_latency(handle, turn)
        if handle.interrupted:
            self.lifecycle.fire(Trigger.INTERRUPTED, turn=turn, spoken=spoken)
            return
        if self.lifecycle.state is State.THINKING:  # finished before audio was reported
            self.lifecycle.fire(Trigger.REPLY_STARTED, turn=turn)
        self.lifecycle.fire(Trigger.REPLY_FINISHED, turn=turn, spoken=spoken)

    def _wire_events(self) -> None:
        on = self.session.on
        on("agent_state_changed", self._on_agent_state)
        on("user_state_changed", self._on_user_state)
        on("user_input_transcribed", self._on_transcribed)
        on("speech_created", self._on_speech_created)
        on("error", self._on_error)
        on("close", self._on_close)

    def _on_agent_state(self, event: lk_events.AgentStateChangedEvent) -> None:
        if event.new_state != "speaking":
            return
        speech = self.session.current_speech
        if speech is not None:
            self._started(speech.id)
        if self.lifecycle.state is not State.THINKING:
            return
        turn = self._reply_turns.get(speech.id) if speech is not None else None
        if turn is not None:
            self.lifecycle.fire(Trigger.REPLY_STARTED, turn=turn)

    def _on_user_state(self, event: lk_events.UserStateChangedEvent) -> None:
        if event.new_state == "away":
            self.lifecycle.fire(Trigger.SILENCE_TIMEOUT, turn=self._listening_turn)

    def _on_transcribed(self, event: lk_events.UserInputTranscribedEvent) -> None:
        if event.is_final and event.transcript:
            self._submit(
                TranscriptionEvent(
                    idempotency_key=self.state.next_key(),
                    session_id=self.state.session_id,
                    at=self.state.now(),
                    text=storable_text(event.transcript),
                    final=True,
                    language=str(event.language)[:256] if event.language else None,
                )
            )

    def _on_speech_created(self, event: lk_events.SpeechCreatedEvent) -> None:
        self._submit(
            SpeechEvent(
                idempotency_key=self.state.next_key(),
                session_id=self.state.session_id,
                at=self.state.now(),
                speech_id=event.speech_handle.id,
                source=event.source,
                user_initiated=event.user_initiated,
            )
        )

    def _record_latency(self, handle: SpeechHandle, turn: int) -> None:
        """livekit's figures for a reply, from the reply's own message (not from greetings,
        apologies or farewells, which are speeches too)."""
        message = _assistant_message(handle)
        metrics = (message.metrics if message is not None else None) or {}
        if not metrics:
            return
        latency = TurnLatency(
            turn,
            e2e_latency_s=metrics.get("e2e_latency"),
            llm_ttft_s=metrics.get("llm_node_ttft"),
            tts_ttfb_s=metrics.get("tts_node_ttfb"),
        )
        self.latencies[turn] = latency
        if self.on_latency is not None:
            self.on_latency(latency)

    def _on_error(self, event: lk_events.ErrorEvent) -> None:
        error = event.error
        source = type(event.source).__name__ if event.source is not None else "session"
        self.state.metrics.errors[source] += 1
        self._submit(
            ErrorEvent(
                idempotency_key=self.state.next_key(),
                session_id=self.state.session_id,
                at=self.state.now(),
                source=source[:256],
                error_type=type(getattr(error, "error", error)).__name__[:256],
                recoverable=bool(getattr(error, "recoverable", False)),
            )
        )

    def _on_close(self, event: lk_events.CloseEvent) -> None:
        self._session_closed = True
        if self.lifecycle.state not in LIVE_STATES:
            return  # we closed it ourselves while ending, or it was already ending
        reason = {
            "participant_disconnected": Trigger.PARTICIPANT_LEFT,
            "error": Trigger.FATAL_ERROR,
        }.get(str(getattr(event.reason, "value", event.reason)), Trigger.HANG_UP)
        self.lifecycle.fire(reason)


def _retrieve_exception(future: asyncio.Future[None]) -> None:
    # An interrupt that failed has nothing left to stop; retrieving it keeps asyncio quiet.
    if not future.cancelled():
        future.exception()


def _assistant_message(handle: SpeechHandle) -> llm.ChatMessage | None:
    for item in reversed(handle.chat_items):
        if item.type == "message" and item.role == "assistant":
            return item
    return None


def _spoken_text(handle: SpeechHandle) -> str:
    """What the agent actually said for this speech (livekit truncates it on interruption)."""
    message = _assistant_message(handle)
    return (message.text_content or "") if message is not None else ""
