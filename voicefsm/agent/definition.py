"""``VoiceAgent``: the agent you write, a livekit ``Agent`` whose turns go through the lifecycle.

Why this shape: a LiveKit user already writes a subclass of ``livekit.agents.Agent`` with
``instructions`` and ``@function_tool`` methods. A ``VoiceAgent`` is exactly that, with three
more things to declare (its greeting, apology and farewell) and lifecycle hooks
(:mod:`voicefsm.agent.hooks`). Everything livekit gives an ``Agent`` keeps working unchanged:
tools, handoffs, ``session.run`` tests, ``mock_tools``.

What voicefsm adds runs through livekit's own extension points: ``on_enter`` tells the lifecycle
the agent is live, ``on_user_turn_completed`` hands each user turn to the lifecycle (which then
decides when to reply) and ``tts_node`` puts a deadline on audio that stops coming. Override
``on_enter``, ``on_exit`` or ``on_user_turn_completed`` as you would on any livekit agent, with
or without ``super()``: the class wraps your method (:mod:`voicefsm.agent.overrides`) so the
lifecycle's part runs once either way. Outside a voicefsm session (a plain ``AgentSession``), a
``VoiceAgent`` behaves as a plain livekit agent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from livekit import rtc
from livekit.agents import Agent, AgentSession, ModelSettings, StopResponse, llm
from livekit.agents.voice import SpeechHandle
from pydantic import JsonValue

from voicefsm.agent.flow_context import offline_summary
from voicefsm.agent.flow_driver import FlowDriver
from voicefsm.agent.flow_tools import function_tools
from voicefsm.agent.overrides import keep_lifecycle_part, lifecycle_part_done
from voicefsm.agent.shared_state import UserdataFactory
from voicefsm.agent.stall import until_audio_stalls
from voicefsm.backend.fields import EventData
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.flows import Flow, FlowEdge, node_prompt

_LOG = logging.getLogger("voicefsm.agent")

DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant. Answer in one to three short spoken sentences, "
    "without lists or markdown."
)
DEFAULT_APOLOGY = "Sorry, I couldn't answer that just now. Could you say it again?"
DEFAULT_FAREWELL = "Thanks for calling. Goodbye!"
DEFAULT_FILLER = "One moment, please."

#: A greeting: the text, or a function of the room's and the caller's (parsed) metadata, and
#: optionally of the caller's participant attributes (``sip.*``, your application's; livekit's
#: own ``lk.*`` left out): ``def greet(room, caller) -> str`` or
#: ``def greet(room, caller, attributes) -> str``.
Greeting = (
    str
    | Callable[[RoomMetadata, ParticipantMetadata], str]
    | Callable[[RoomMetadata, ParticipantMetadata, Mapping[str, str]], str]
)


class AgentRuntime(Protocol):
    """What a running voicefsm session offers the agent it runs: the agent's door into the call
    engine, implemented by :class:`voicefsm.engine.agent_bridge.AgentBridge` (the agent API never
    imports the engine that runs it)."""

    @property
    def audio_stall_deadline_s(self) -> float: ...

    @property
    def agent_session(self) -> AgentSession[Any]: ...

    async def agent_entered(self, agent: VoiceAgent) -> None: ...

    async def user_turn(self, message: llm.ChatMessage) -> None: ...

    def synthesis_failed(self, speech: SpeechHandle) -> None: ...

    def end_call(self) -> None: ...

    def write_event(self, name: str, data: EventData) -> None: ...


class VoiceAgent(Agent):
    """A livekit ``Agent`` with a greeting, an apology and a farewell, run by the lifecycle.

    ``greeting`` is text or a function of ``(room, participant)`` metadata; without one, the
    caller is greeted by name when their metadata carries one. A room's own greeting (room
    metadata ``agent.greeting``) takes precedence. ``apology`` follows a reply that failed
    twice; ``farewell`` ends the call; ``filler`` is said when a tool takes a while. Other
    keyword arguments go to livekit's ``Agent`` (``tools``, ``chat_ctx``, ``llm``…).

    A conversation flow (:mod:`voicefsm.flows`) is declared with the class, as its tools are:
    ``class Bistro(VoiceAgent, flow=BookingFlow)``. It belongs to what the agent is, not to one
    call; the class says it, so diagrams and the agent graph read it without building an agent,
    and each agent built gets a fresh run of it (:attr:`flow`, which a resumed call restores).
    ``instructions`` are then the agent's persona, which each node's instructions follow; the
    model is offered the node's tools (generated from its edges and fields, the agent's tools
    the node names, the flow's common tools) and moves the flow by calling them. A node naming
    a tool the agent does not have is refused when the agent is built.
    """

    #: The conversation flow the class declares (``flow=`` in its class statement), or None.
    flow_class: ClassVar[type[Flow[Any]] | None] = None
    #: Makes each call's shared state (``userdata=`` in the class statement; see
    #: :mod:`voicefsm.agent.shared_state`), livekit's ``RunContext[T].userdata``.
    userdata_factory: ClassVar[UserdataFactory | None] = None

    def __init_subclass__(
        cls,
        flow: type[Flow[Any]] | None = None,
        userdata: UserdataFactory | None = None,
        **kwargs: Any,  # noqa: ANN401
    ) -> None:
        super().__init_subclass__(**kwargs)
        if userdata is not None:
            if not callable(userdata):
                msg = f"{cls.__name__}: userdata= takes a model class or a factory"
                raise TypeError(msg)
            cls.userdata_factory = userdata
        keep_lifecycle_part(cls, enter=VoiceAgent._enter_lifecycle, turn=VoiceAgent._hand_turn)
        if flow is not None:
            if not (isinstance(flow, type) and issubclass(flow, Flow) and flow.has_nodes()):
                msg = f"{cls.__name__}: flow= takes a Flow class with nodes, not {flow!r}"
                raise TypeError(msg)
            cls.flow_class = flow

    def __init__(
        self,
        *,
        instructions: str = DEFAULT_INSTRUCTIONS,
        greeting: Greeting | None = None,
        apology: str = DEFAULT_APOLOGY,
        farewell: str = DEFAULT_FAREWELL,
        filler: str = DEFAULT_FILLER,
        **livekit_options: Any,  # noqa: ANN401 (livekit's Agent keywords, passed on as given)
    ) -> None:
        run = None if self.flow_class is None else self.flow_class()
        prompt = instructions if run is None else node_prompt(run, instructions)
        super().__init__(instructions=prompt, **livekit_options)
        self._flow_driver = None
        if run is not None:
            own = function_tools(super().tools)
            self._flow_driver = FlowDriver(
                self, run, persona=instructions, own_tools=own, summarise=self.summarise
            )
        self.greeting = greeting
        self.apology = apology
        self.farewell = farewell
        self.filler = filler
        self._runtime: AgentRuntime | None = None
        self._unwritten = 0

    @property
    def flow(self) -> Flow[Any] | None:
        """The conversation flow this agent runs (None without one): where the conversation
        is, what it collected; subscribe to its node changes, snapshot it, restore it."""
        return None if self._flow_driver is None else self._flow_driver.flow

    async def summarise(
        self, messages: Sequence[llm.ChatMessage], data: Mapping[str, JsonValue]
    ) -> str:
        """The summary a ``summarise`` node leaves the model in place of the turns before it
        (the last few are kept). Made without a model by default (``offline_summary``: the
        collected data, and how much was left out); override it to ask an LLM, say."""
        return offline_summary(messages, data)

    async def take(self, edge: FlowEdge | str) -> str | tuple[object, str]:
        """Move the flow from your own code (a tool that booked the table, say): take ``edge``
        and enter the node it leads to. Returns what the model should read, or, when the node
        hands the call to another agent, that agent with it: return either from the tool.
        Raises ``ValueError`` when the agent runs no flow."""
        if self._flow_driver is None:
            msg = f"{type(self).__name__} runs no flow"
            raise ValueError(msg)
        return await self._flow_driver.take(edge)

    async def resume_flow(self, state: Mapping[str, object]) -> None:
        """Continue the flow at a stored state (what :meth:`Flow.snapshot
        <voicefsm.flows.Flow.snapshot>` made): its node, data and path; the agent takes up that
        node (its instructions and tools; a handoff node hands the call on). voicefsm does this
        when a call comes back. Raises :class:`~voicefsm.errors.FlowRestoreError` (the flow
        unchanged) when the state does not fit the flow, ``ValueError`` when the agent runs
        no flow."""
        if self._flow_driver is None:
            msg = f"{type(self).__name__} runs no flow"
            raise ValueError(msg)
        self._flow_driver.flow.restore(state)
        await self._flow_driver.agent_entered()

    @property
    def tools(self) -> list[llm.Tool | llm.Toolset]:
        """livekit's tools of the agent; with a flow, the tools of the node it is at."""
        driver: FlowDriver | None = getattr(self, "_flow_driver", None)
        return super().tools if driver is None else [driver.toolset]

    @property
    def session(self) -> AgentSession[Any]:
        """livekit's session. Also once this agent handed the call on: the hooks of the agent a
        call starts with run for the whole call, and ``self.session.say(...)`` in them still
        reaches the caller (livekit's own ``session`` raises for an agent not in charge)."""
        try:
            return super().session
        except RuntimeError:
            if self._runtime is None:
                raise
            return self._runtime.agent_session

    def _bind(self, runtime: AgentRuntime) -> None:
        """Called by the voicefsm session that runs this agent (before it enters)."""
        self._runtime = runtime

    def end_call(self) -> None:
        """End the call: once the reply in progress has been heard, the agent says its
        farewell, everything is persisted and the caller is hung up (end reason
        ``end_call``). Call it from a tool, as a LiveKit agent would."""
        if self._runtime is None:
            self.session.shutdown()  # a plain livekit session: livekit's own way to end it
            return
        self._runtime.end_call()

    def write_event(self, name: str, data: EventData) -> None:
        """Write an application event (``name``, JSON ``data``: a booking, a call note) through
        the outbox, durable once spooled and delivered exactly once. Raises ``ValueError`` when
        the contract refuses the name or the data (over 16 KiB, NaN, NUL...). In a plain
        livekit session (no voicefsm) it writes nothing, and logs that once."""
        if self._runtime is None:
            # A plain livekit session has nowhere durable to put it: the agent behaves as a
            # plain livekit agent, and says so once.
            if not self._unwritten:
                _LOG.warning("write_event outside a voicefsm session: nothing is written")
            self._unwritten += 1
            return
        self._runtime.write_event(name, data)

    async def on_enter(self) -> None:
        """The agent is live in the session: the lifecycle moves on (the first agent joins,
        a later one is a handoff), and a flow takes up the node it is at. An override of yours
        runs after this part, whether it calls ``super()`` or not."""
        if not lifecycle_part_done(self, "on_enter"):
            await self._enter_lifecycle()

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        """Hand the turn to the lifecycle, which decides when to reply (so livekit must not).
        An override of yours runs before this part, whether it calls ``super()`` or not (and
        may edit ``new_message``); raising ``StopResponse`` yourself keeps the turn from the
        lifecycle, as it keeps it from livekit's reply."""
        if not lifecycle_part_done(self, "on_user_turn_completed"):
            await self._hand_turn(new_message)

    async def _enter_lifecycle(self) -> None:
        if self._runtime is not None:
            await self._runtime.agent_entered(self)
        if self._flow_driver is not None:
            await self._flow_driver.agent_entered()

    async def _hand_turn(self, new_message: llm.ChatMessage) -> None:
        if self._runtime is None:
            return
        await self._runtime.user_turn(new_message)
        raise StopResponse

    async def tts_node(
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncIterator[rtc.AudioFrame]:
        """livekit's own TTS node, with a deadline on audio that stops coming; a synthesis that
        fails (an error or that stall) is reported, so its speech counts as failed even when
        part of it was heard."""
        runtime = self._runtime
        frames = Agent.default.tts_node(self, text, model_settings)
        if runtime is None:
            async for frame in frames:
                yield frame
            return
        speech = self.session.current_speech  # the speech this synthesis is for
        try:
            async for frame in until_audio_stalls(frames, runtime.audio_stall_deadline_s):
                yield frame
        except Exception:
            if speech is not None:
                runtime.synthesis_failed(speech)
            raise
