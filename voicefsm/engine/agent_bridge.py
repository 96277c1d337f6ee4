"""The agent's link to the session that runs it: what a ``VoiceAgent`` reports, taken in.

livekit calls the agent (``on_enter``, ``on_user_turn_completed``, its ``tts_node``); the agent
hands each of these to its session through the
:class:`~voicefsm.agent.definition.AgentRuntime` interface, which :class:`AgentBridge`
implements: a completed user turn goes through :class:`~voicefsm.engine.early_turns.EarlyTurns`
into the lifecycle, the first agent's entry is ``Joined``, a handoff brings the new agent's
hooks, phrases and tool deadlines along, and the agent's own events go to the session's writes.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from livekit.agents import Agent, AgentSession, llm
from livekit.agents.voice import SpeechHandle

from voicefsm.agent.definition import VoiceAgent
from voicefsm.backend.fields import EventData
from voicefsm.context import RoomMetadata
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.hook_runner import HookRunner
from voicefsm.engine.participants import CallerContext
from voicefsm.engine.phrases import phrases_for
from voicefsm.engine.pipeline import Pipeline
from voicefsm.engine.tool_deadlines import with_deadlines
from voicefsm.engine.tool_watch import ToolWatch
from voicefsm.engine.turn_sources import UserMessage
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import EndCall, HandedOff, Joined, Lifecycle, State, UserTurnCompleted
from voicefsm.settings import Settings


class AgentBridge:
    """What a running session offers the agents it runs (``AgentRuntime``), and which agent is
    in charge now (:attr:`agent`)."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        agent: VoiceAgent,
        *,
        lifecycle: Lifecycle,
        turns: EarlyTurns,
        pipeline: Pipeline,
        hooks: HookRunner,
        tools: ToolWatch,
        writes: SessionWrites,
        caller: CallerContext,
        room: RoomMetadata,
        settings: Settings,
        tasks: CallTasks,
    ) -> None:
        self._agent_session = agent_session
        self._lifecycle = lifecycle
        self._turns = turns
        self._pipeline = pipeline
        self._hooks = hooks
        self._tools = tools
        self._writes = writes
        self._caller = caller
        self._room = room
        self._settings = settings
        self._tasks = tasks
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        #: The agent in charge: the first one, then each one handed off to.
        self.agent: Agent = agent
        hooks.use(agent)
        agent._bind(self)
        caller.subscribe(self._caller_changed)

    # -- voicefsm.agent.definition.AgentRuntime -------------------------------------------------

    @property
    def audio_stall_deadline_s(self) -> float:
        return self._settings.audio_stall_deadline_s

    @property
    def agent_session(self) -> AgentSession[Any]:
        return self._agent_session

    async def agent_entered(self, agent: VoiceAgent) -> None:
        if self._lifecycle.state is State.JOINING:
            self._lifecycle.fire(Joined())

    async def user_turn(self, message: llm.ChatMessage) -> None:
        """A completed user turn, spoken or typed: the lifecycle takes it from here."""
        text = (message.text_content or "").strip()
        if text:
            self._turns.hand_over(UserTurnCompleted(text, source=UserMessage(message)))

    def synthesis_failed(self, speech: SpeechHandle) -> None:
        self._pipeline.synthesis_failed(speech)

    def end_call(self) -> None:
        """The agent ends the call, once the greeting or reply in progress has been heard
        (a tool calls this from inside that reply). From a sync hook's or tool's thread it is
        handed to the loop: the lifecycle is only ever fired there."""
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.end_call)
            return
        speech = self._pipeline.unfinished_speech()
        if speech is None:
            self._lifecycle.fire(EndCall())
        else:
            # After the speech's own completion has reached the lifecycle (livekit calls a
            # handle's done callbacks in no set order): next tick.
            speech.add_done_callback(self._end_call_next_tick)

    def write_event(self, name: str, data: EventData) -> None:
        """An application event into the outbox, from the loop or (a sync hook) any thread."""
        self._writes.app_event_from_any_thread(name, data)

    # -- from the session's events and its assembly --------------------------------------------

    def handed_off(self, old_agent: str | None, new_agent: str | None) -> None:
        """Another agent took over (livekit switched it in before its on_enter): it runs in this
        session, its hooks and phrases apply, and the handoff is on the record."""
        current = self._agent_session.current_agent
        if isinstance(current, VoiceAgent) and current is not self.agent:
            current._bind(self)
            self._hooks.use(current)
            self.agent = current
            self._caller_changed()  # its phrases, for this caller
        self.agent = current
        self._tasks.spawn(self.prepare(current), "voicefsm-prepare-agent")
        self._lifecycle.fire(HandedOff(old_agent or "none", new_agent or type(current).__name__))

    def _caller_changed(self) -> None:
        # The greeting may be a function of the caller (their metadata, their attributes).
        agent = self.agent
        if isinstance(agent, VoiceAgent):
            caller = self._caller
            self._pipeline.phrases = phrases_for(
                agent, self._room, caller.participant, caller.attributes
            )

    async def prepare(self, agent: Agent) -> None:
        """Ready an agent to run in this session: its tools get their deadlines."""
        await with_deadlines(agent, self._settings.tool_deadline_s, self._tools)

    def _end_call_next_tick(self, _speech: SpeechHandle) -> None:
        self._loop.call_soon(self._end_call_now)

    def _end_call_now(self) -> None:
        self._lifecycle.fire(EndCall())
