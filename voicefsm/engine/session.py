"""``VoiceSession``: one call, the lifecycle driving a livekit ``AgentSession``.

It owns the parts of a call and wires them: the lifecycle (when things happen), the pipeline
(speeches over the ``AgentSession``), the recorder (history and backend writes), livekit's
events (turned into triggers), and the agent it runs. Nothing here does I/O on construction;
:func:`voicefsm.engine.assembly.open_session` builds one with its outbox and starts it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from livekit.agents import Agent, AgentSession, llm
from livekit.agents.voice import SpeechHandle
from pydantic import JsonValue

from voicefsm.agent.definition import VoiceAgent
from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import validated_app_event
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine import ending, resume
from voicefsm.engine.caller_context import CallerContext
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.enrichment import Enrichment
from voicefsm.engine.hook_runner import HookRunner
from voicefsm.engine.live_effects import SessionEffects
from voicefsm.engine.participants import ParticipantWatch
from voicefsm.engine.phrases import phrases_for
from voicefsm.engine.pipeline import Pipeline, TurnLatency
from voicefsm.engine.rejoin import RejoinGrace
from voicefsm.engine.room_control import NoRoom, RoomControl
from voicefsm.engine.session_events import SessionEvents
from voicefsm.engine.session_record import SessionRecord
from voicefsm.engine.tool_watch import ToolWatch, with_deadlines
from voicefsm.engine.writes import Recorder
from voicefsm.lifecycle import (
    EndCall,
    EndReason,
    FatalError,
    HandedOff,
    HangUp,
    Joined,
    Lifecycle,
    Outcome,
    ParticipantLeft,
    State,
    TimelineEntry,
    UserTurnCompleted,
)
from voicefsm.logs import SessionLog
from voicefsm.persistence.outbox import Outbox
from voicefsm.settings import Settings

_LOG = logging.getLogger("voicefsm.agent")

#: The reasons a call can be ended from outside the session (the silence timeout cannot: it
#: is livekit's to report).
ExternalEnd = Literal[
    EndReason.HANG_UP, EndReason.PARTICIPANT_LEFT, EndReason.FATAL_ERROR, EndReason.END_CALL
]
_ENDINGS = {
    EndReason.HANG_UP: HangUp,
    EndReason.PARTICIPANT_LEFT: ParticipantLeft,
    EndReason.FATAL_ERROR: FatalError,
    EndReason.END_CALL: EndCall,
}


class VoiceSession:
    """One call. Read ``lifecycle`` (state, timeline), ``record`` (history, participants);
    end it with :meth:`end`; ``finished`` is set once it has exited."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        agent: VoiceAgent,
        *,
        settings: Settings,
        session_id: str,
        outbox: Outbox,
        client: BackendClient | None,
        room: RoomMetadata | None = None,
        participant: ParticipantMetadata | None = None,
        room_control: RoomControl | None = None,
        caller: str | None = None,
    ) -> None:
        self.agent_session = agent_session
        self.settings = settings
        self.session_id = session_id
        self.room = room or RoomMetadata()
        self.caller_context = CallerContext(participant or ParticipantMetadata(), spawn=self.spawn)
        self.conversation_id = self.room.conversation_id or f"c_{uuid.uuid4().hex}"
        self.record = SessionRecord(session_id, self.conversation_id)
        self.outbox = outbox
        outbox.claim(self.conversation_id)
        self.client = client
        self._log = SessionLog(_LOG, {"session_id": session_id})
        self.room_control = room_control or NoRoom()
        self.recorder = Recorder(self.record, outbox, self._log)
        self.latencies: dict[int, TurnLatency] = {}
        self._latency_listeners: list[Callable[[TurnLatency], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.finished = asyncio.Event()
        self.pipeline = Pipeline(
            agent_session,
            lambda: self.lifecycle,
            recorder=self.recorder,
            enrichment=Enrichment(
                client,
                conversation_id=self.conversation_id,
                session_id=session_id,
                deadline_s=settings.context_deadline_s,
                backoff_s=settings.context_backoff_s,
                log=self._log,
            ),
            phrases=phrases_for(agent, self.room, self.participant),
            reply_start_deadline_s=settings.reply_start_deadline_s,
            spawn=self.spawn,
            on_latency=self._latency,
        )
        self.lifecycle = Lifecycle(
            SessionEffects(self),
            max_reply_attempts=settings.max_reply_attempts,
            max_failed_turns=settings.max_failed_turns,
            log=self._log,
        )
        self.rejoin = RejoinGrace(self.lifecycle, settings.rejoin_grace_s)
        #: The room's participants (attach it to the room's events); ``caller`` is linked.
        self.participants = ParticipantWatch(
            self.record,
            caller=caller,
            on_caller_changed=self.caller_context.changed,
            on_caller_presence=self.rejoin.caller_away,
        )
        self.hooks = HookRunner(
            self.lifecycle,
            self.record,
            participant=lambda: self.participant,
            write_event=self.write_event,
            deadline_s=settings.hook_deadline_s,
            log=self._log,
        )
        self.tools = ToolWatch(
            agent_session,
            self.lifecycle,
            current_speech=self.pipeline.unfinished_speech,
            tools_started=self.pipeline.tools_started,
            tools_finished=self.pipeline.tools_finished,
            say_filler=self.pipeline.say_filler,
            filler_after_s=settings.tool_filler_after_s,
        )
        self.turns = EarlyTurns(self.lifecycle)
        SessionEvents(
            agent_session,
            self.lifecycle,
            self.pipeline,
            self.recorder,
            on_handoff=self._handed_off,
            fire_turn=self.turns.fire,
            held=self.turns.holds,
        )
        self.agent: Agent = agent
        self.hooks.use(agent)
        agent._bind(self)

    @property
    def participant(self) -> ParticipantMetadata:
        """The caller's metadata as it is now (it follows their changes during the call)."""
        return self.caller_context.participant

    # -- what the agent reports (voicefsm.agent.definition.AgentRuntime) -----------------------

    @property
    def audio_stall_deadline_s(self) -> float:
        return self.settings.audio_stall_deadline_s

    async def prepare(self, agent: Agent) -> None:
        """Ready an agent to run in this session: its tools get their deadlines."""
        await with_deadlines(agent, self.settings.tool_deadline_s, self.tools.timed_out)

    async def agent_entered(self, agent: VoiceAgent) -> None:
        if self.lifecycle.state is State.JOINING:
            self.lifecycle.fire(Joined())

    def _handed_off(self, old_agent: str | None, new_agent: str | None) -> None:
        """Another agent took over (livekit switched it in before its on_enter): it runs in this
        session, its hooks and phrases apply, and the handoff is on the record."""
        current = self.agent_session.current_agent
        if isinstance(current, VoiceAgent) and current is not self.agent:
            current._bind(self)
            self.hooks.use(current)
            self.pipeline.phrases = phrases_for(current, self.room, self.participant)
        self.agent = current
        self.spawn(self.prepare(current), "voicefsm-prepare-agent")
        self.lifecycle.fire(HandedOff(old_agent or "none", new_agent or type(current).__name__))

    async def user_turn(self, message: llm.ChatMessage) -> None:
        """A completed user turn, spoken or typed: the lifecycle takes it from here."""
        text = (message.text_content or "").strip()
        if text:
            self.turns.fire(UserTurnCompleted(text, source=message))

    def synthesis_failed(self, speech: SpeechHandle) -> None:
        self.pipeline.synthesis_failed(speech)

    def end_call(self) -> None:
        """The agent ends the call, once the greeting or reply in progress has been heard
        (a tool calls this from inside that reply)."""
        speech = self.pipeline.unfinished_speech()
        if speech is None:
            self.lifecycle.fire(EndCall())
        else:
            # After the speech's own completion has reached the lifecycle (livekit calls a
            # handle's done callbacks in no set order): next tick.
            speech.add_done_callback(self._end_call_next_tick)

    def _end_call_next_tick(self, _speech: SpeechHandle) -> None:
        self._loop.call_soon(self._end_call_now)

    def _end_call_now(self) -> None:
        self.lifecycle.fire(EndCall())

    def write_event(self, name: str, data: JsonValue) -> None:
        """An application event into the outbox, from the loop or (a sync hook) any thread."""
        if threading.get_ident() == self._loop_thread:
            self.recorder.app_event(name, data)
            return
        validated_app_event(name, data)  # a mistake is the caller's, raised in its thread
        self._loop.call_soon_threadsafe(self.recorder.app_event, name, data)

    # -- from outside --------------------------------------------------------------------------

    async def typed_text(self, text: str) -> None:
        """Typed chat from the room (``lk.chat``) takes the same path as speech."""
        await self.user_turn(llm.ChatMessage(role="user", content=[text]))

    def end(self, reason: ExternalEnd = EndReason.HANG_UP) -> Outcome:
        """End the call (the application, a job shutdown, the simulator). The lifecycle then
        persists it; returns what the lifecycle made of the request."""
        ending_trigger = _ENDINGS.get(reason)
        if ending_trigger is None:
            msg = f"a call cannot be ended from outside with {reason!s}"
            raise ValueError(msg)
        return self.lifecycle.fire(ending_trigger())

    def offered_tools(self) -> set[str]:
        """The names of the tools the model is offered now (the session's and the agent's)."""
        tools = [*self.agent_session.tools, *self.agent.tools]
        return {getattr(getattr(tool, "info", None), "name", None) or tool.id for tool in tools}

    async def settled(self) -> None:
        """Until the session has greeted (or resumed) and is listening, or has ended: where a
        test starts its ``agent_session.run(...)`` turns."""
        changed = asyncio.Event()

        def moved(_entry: TimelineEntry) -> None:
            changed.set()

        self.lifecycle.subscribe(moved)
        try:
            while self.lifecycle.state in (State.JOINING, State.LOADING_CONTEXT, State.GREETING):
                changed.clear()
                await changed.wait()
        finally:
            self.lifecycle.unsubscribe(moved)

    def subscribe_latency(self, listener: Callable[[TurnLatency], None]) -> None:
        """Call ``listener`` with each reply's latency figures as livekit reports them."""
        self._latency_listeners.append(listener)

    # -- the session's own work ----------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
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

    def _latency(self, latency: TurnLatency) -> None:
        self.latencies[latency.turn] = latency
        for listener in self._latency_listeners:
            listener(latency)

    async def load_context(self) -> None:
        await resume.load_context(
            self.agent_session,
            self.lifecycle,
            record=self.record,
            client=self.client,
            outbox=self.outbox,
            known_conversation=self.room.conversation_id is not None,
            deadline_s=self.settings.history_deadline_s,
            limit=self.settings.recent_messages,
        )

    async def persist(self, reason: EndReason) -> None:
        await ending.persist(
            reason,
            lifecycle=self.lifecycle,
            pipeline=self.pipeline,
            recorder=self.recorder,
            outbox=self.outbox,
            before_summary=self.hooks.drain,
            farewell_deadline_s=self.settings.farewell_deadline_s,
            flush_deadline_s=self.settings.flush_deadline_s,
            log=self._log,
        )

    async def shut_down(self, reason: EndReason) -> None:
        self.rejoin.cancel()
        try:
            await ending.close(
                self.agent_session,
                self.pipeline,
                reason=reason,
                room=self.room_control,
                hang_up_room=self.settings.hang_up_room,
                log=self._log,
            )
        finally:
            self.finished.set()
