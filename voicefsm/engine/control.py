"""The control loop of one call: the lifecycle, and the parts that carry out what it decides.

The lifecycle decides *when* (greet, reply, interrupt, record, persist, shut down); a
:class:`CallControl` is its :class:`~voicefsm.lifecycle.Effects` and routes each effect to the
part that owns it: the :class:`~voicefsm.engine.pipeline.Pipeline` speaks, the
:class:`~voicefsm.engine.writes.SessionWrites` record, :mod:`~voicefsm.engine.resume` loads the
conversation, :mod:`~voicefsm.engine.ending` persists and closes. Every method returns at once;
slow work is a task of the call. Each of those parts reports back to the same lifecycle, so they
are made here with it, as ``transitions`` makes a machine with its model.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekit.agents import AgentSession

from voicefsm.backend.client import BackendClient
from voicefsm.engine import ending, resume
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.enrichment import Enrichment
from voicefsm.engine.flow_watch import FlowWatch
from voicefsm.engine.hook_runner import HookRunner
from voicefsm.engine.latency import TurnLatencies
from voicefsm.engine.participants import CallerContext
from voicefsm.engine.phrases import Phrases
from voicefsm.engine.pipeline import Pipeline
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.shared_state import session_userdata
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import (
    EndReason,
    HandedOff,
    Lifecycle,
    ToolCall,
    UserTurnCompleted,
    Utterance,
)
from voicefsm.logs import Log
from voicefsm.persistence.outbox import Outbox
from voicefsm.settings import Settings


class CallControl:
    """One call's lifecycle and its effects. ``finished`` is set once the call has exited."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        *,
        settings: Settings,
        writes: SessionWrites,
        outbox: Outbox,
        client: BackendClient | None,
        known_conversation: bool,
        enrichment: Enrichment,
        phrases: Phrases,
        caller: CallerContext,
        room_control: RoomControl,
        tasks: CallTasks,
        latencies: TurnLatencies,
        log: Log,
    ) -> None:
        self._agent_session = agent_session
        self._settings = settings
        self._writes = writes
        self._outbox = outbox
        self._client = client
        self._known_conversation = known_conversation
        self._room_control = room_control
        self._tasks = tasks
        self._log = log
        self.finished = asyncio.Event()
        # Nothing fires a trigger before the parts below exist: the lifecycle only calls its
        # effects from a trigger.
        self.lifecycle = Lifecycle(
            self,
            max_reply_attempts=settings.max_reply_attempts,
            max_failed_turns=settings.max_failed_turns,
            log=log,
        )
        #: Where the conversation is: the call's flows, their node changes (restored on resume).
        self.flows = FlowWatch(self.lifecycle, writes)
        self.pipeline = Pipeline(
            agent_session,
            self.lifecycle,
            writes=writes,
            enrichment=enrichment,
            phrases=phrases,
            reply_start_deadline_s=settings.reply_start_deadline_s,
            tasks=tasks,
            latencies=latencies,
        )
        #: The agent's lifecycle hooks: the summary waits for those still running.
        self.hooks = HookRunner(
            self.lifecycle,
            writes=writes,
            caller=caller,
            deadline_s=settings.hook_deadline_s,
            log=log,
            userdata=lambda: session_userdata(agent_session),
        )

    # -- the lifecycle's effects (voicefsm.lifecycle.Effects) ----------------------------------

    def load_context(self) -> None:
        self._tasks.spawn(self._load_context(), "voicefsm-load-context")

    def start_greeting(self, turn: int) -> None:
        self.pipeline.start_greeting(turn)

    def listen(self, turn: int) -> None:
        # Nothing to start: user turns arrive from the agent (voicefsm.engine.agent_bridge),
        # silence from livekit's user_away_timeout (voicefsm.engine.session_events).
        return

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        self.pipeline.start_reply(turn, request, attempt)

    def interrupt(self, turn: int) -> None:
        self.pipeline.interrupt()

    def apologise(self, turn: int) -> None:
        self.pipeline.apologise(turn)

    def record(self, utterance: Utterance) -> None:
        self._writes.utterance(utterance)

    def record_tool(self, call: ToolCall) -> None:
        self._writes.tool_call(call)

    def record_handoff(self, handoff: HandedOff) -> None:
        self._writes.handoff(handoff.from_agent, handoff.to_agent)

    def say_farewell(self) -> None:
        self.pipeline.say_farewell()

    def flush(self, reason: EndReason) -> None:
        self._tasks.spawn(self._persist(reason), "voicefsm-persist")

    def shut_down(self, reason: EndReason) -> None:
        self._tasks.spawn(self._shut_down(reason), "voicefsm-shut-down")

    # -- the slow ones, as tasks ----------------------------------------------------------------

    async def _load_context(self) -> None:
        settings = self._settings
        await resume.load_context(
            self._agent_session,
            self.lifecycle,
            record=self._writes.record,
            flows=self.flows,
            client=self._client,
            outbox=self._outbox,
            known_conversation=self._known_conversation,
            deadline_s=settings.history_deadline_s,
            limit=settings.recent_messages,
        )

    async def _persist(self, reason: EndReason) -> None:
        await ending.persist(
            reason,
            agent_session=self._agent_session,
            lifecycle=self.lifecycle,
            pipeline=self.pipeline,
            writes=self._writes,
            outbox=self._outbox,
            hooks=self.hooks,
            farewell_deadline_s=self._settings.farewell_deadline_s,
            flush_deadline_s=self._settings.flush_deadline_s,
            log=self._log,
        )

    async def _shut_down(self, reason: EndReason) -> None:
        try:
            await ending.close(
                self._agent_session,
                self.pipeline,
                reason=reason,
                room=self._room_control,
                hang_up_room=self._settings.hang_up_room,
                log=self._log,
            )
        finally:
            self.finished.set()
