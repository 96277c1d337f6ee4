"""``VoiceSession``: one call, the lifecycle driving a livekit ``AgentSession``.

It builds the parts of a call, each given the parts it talks to, in this one place:

* the control loop (:class:`~voicefsm.engine.control.CallControl`): the lifecycle, and what
  carries out its effects (the pipeline speaks, the writes record, the ending persists);
* what reports to the lifecycle: the agent (:class:`~voicefsm.engine.agent_bridge.AgentBridge`),
  user turns that come early (:class:`~voicefsm.engine.early_turns.EarlyTurns`), livekit's
  events (:class:`~voicefsm.engine.session_events.SessionEvents`), its own speeches
  (:class:`~voicefsm.engine.foreign_speech.ForeignSpeeches`) and tools
  (:class:`~voicefsm.engine.tool_watch.ToolWatch`), the room's participants
  (:class:`~voicefsm.engine.participants.ParticipantWatch`) and a dropped caller's grace period
  (:class:`~voicefsm.engine.rejoin.RejoinGrace`).

Nothing here does I/O on construction; :func:`voicefsm.engine.assembly.open_session` builds one
with its outbox and starts it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from livekit.agents import Agent, AgentSession, llm

from voicefsm.agent.definition import VoiceAgent
from voicefsm.backend.client import BackendClient
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine.agent_bridge import AgentBridge
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.control import CallControl
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.enrichment import Enrichment
from voicefsm.engine.foreign_speech import ForeignSpeeches
from voicefsm.engine.latency import TurnLatencies, TurnLatency
from voicefsm.engine.participants import CallerContext, ParticipantWatch
from voicefsm.engine.phrases import phrases_for
from voicefsm.engine.rejoin import RejoinGrace
from voicefsm.engine.room_control import NoRoom, RoomControl
from voicefsm.engine.session_events import SessionEvents
from voicefsm.engine.session_record import SessionRecord
from voicefsm.engine.shared_state import session_userdata_json
from voicefsm.engine.tool_watch import ToolWatch
from voicefsm.engine.writes import SessionWrites
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import (
    EndCall,
    EndReason,
    FatalError,
    HangUp,
    Outcome,
    ParticipantLeft,
    State,
    TimelineEntry,
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
        self.session_id = SessionId(session_id)
        self.room = room or RoomMetadata()
        self.conversation_id = ConversationId(self.room.conversation_id or f"c_{uuid.uuid4().hex}")
        self.outbox = outbox
        outbox.claim(self.conversation_id)
        self.client = client
        log = SessionLog(_LOG, {"session_id": session_id})
        self.tasks = CallTasks(log)
        self.record = SessionRecord(self.session_id, self.conversation_id)
        self.record.shared_state = lambda: session_userdata_json(agent_session)
        self.writes = SessionWrites(self.record, outbox, log)
        self.caller_context = CallerContext(participant or ParticipantMetadata(), self.tasks)
        self._latencies = TurnLatencies()
        #: Each reply's latency figures, by turn, as livekit reports them.
        self.latencies: dict[int, TurnLatency] = self._latencies.by_turn
        self.control = CallControl(
            agent_session,
            settings=settings,
            writes=self.writes,
            outbox=outbox,
            client=client,
            known_conversation=self.room.conversation_id is not None,
            enrichment=Enrichment(
                client,
                conversation_id=self.conversation_id,
                session_id=self.session_id,
                deadline_s=settings.context_deadline_s,
                backoff_s=settings.context_backoff_s,
                log=log,
            ),
            phrases=phrases_for(agent, self.room, self.caller_context.participant),
            caller=self.caller_context,
            room_control=room_control or NoRoom(),
            tasks=self.tasks,
            latencies=self._latencies,
            log=log,
        )
        self.lifecycle = self.control.lifecycle
        self.flows = self.control.flows
        self.pipeline = self.control.pipeline
        self.hooks = self.control.hooks
        self.finished = self.control.finished
        rejoin = RejoinGrace(self.lifecycle, settings.rejoin_grace_s)
        #: The room's participants (attach it to the room's events); ``caller`` is linked.
        self.participants = ParticipantWatch(
            self.record, caller=caller, caller_context=self.caller_context, rejoin=rejoin
        )
        self.tools = ToolWatch(
            agent_session,
            self.lifecycle,
            self.pipeline,
            filler_after_s=settings.tool_filler_after_s,
            log=log,
        )
        self.turns = EarlyTurns(self.lifecycle)
        self.agent_bridge = AgentBridge(
            agent_session,
            agent,
            lifecycle=self.lifecycle,
            turns=self.turns,
            pipeline=self.pipeline,
            hooks=self.hooks,
            tools=self.tools,
            writes=self.writes,
            caller=self.caller_context,
            room=self.room,
            settings=settings,
            tasks=self.tasks,
        )
        self.flows.start(agent)
        self.tools.subscribe(self.flows.tool_finished)
        foreign = ForeignSpeeches(self.lifecycle, self.pipeline, self.turns)
        self.pipeline.greet_with(foreign.entry_speech)
        SessionEvents(
            agent_session,
            self.lifecycle,
            speech=self.pipeline,
            writes=self.writes,
            foreign=foreign,
            handoffs=self,
        )

    @property
    def agent(self) -> Agent:
        """The agent in charge now (the first one, then each one handed off to)."""
        return self.agent_bridge.agent

    @property
    def participant(self) -> ParticipantMetadata:
        """The caller's metadata as it is now (it follows their changes during the call)."""
        return self.caller_context.participant

    def handed_off(self, old_agent: str | None, new_agent: str | None) -> None:
        """livekit switched agents: the bridge takes the new one in, the flows follow."""
        previous = self.agent_bridge.agent
        self.agent_bridge.handed_off(old_agent, new_agent)
        self.flows.handed_off(previous, self.agent_bridge.agent)

    async def prepare(self, agent: Agent) -> None:
        """Ready an agent to run in this session: its tools get their deadlines."""
        await self.agent_bridge.prepare(agent)

    # -- from outside --------------------------------------------------------------------------

    async def typed_text(self, text: str) -> None:
        """Typed chat from the room (``lk.chat``) takes the same path as speech."""
        await self.agent_bridge.user_turn(llm.ChatMessage(role="user", content=[text]))

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
        # A toolset (a flow's node tools) offers the tools inside it: livekit flattens them.
        named = set(llm.ToolContext(tools).function_tools)
        return named | {getattr(getattr(t, "info", None), "name", None) or t.id for t in tools}

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
        self._latencies.subscribe(listener)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a task of this call (its failure is logged, never raised)."""
        self.tasks.spawn(coro, name)
