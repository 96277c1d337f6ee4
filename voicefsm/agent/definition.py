"""``VoiceAgent``: the agent you write, a livekit ``Agent`` whose turns go through the lifecycle.

Why this shape: a LiveKit user already writes a subclass of ``livekit.agents.Agent`` with
``instructions`` and ``@function_tool`` methods. A ``VoiceAgent`` is exactly that, with three
more things to declare (its greeting, apology and farewell) and lifecycle hooks
(:mod:`voicefsm.agent.hooks`). Everything livekit gives an ``Agent`` keeps working unchanged:
tools, handoffs, ``session.run`` tests, ``mock_tools``.

What voicefsm adds runs through livekit's own extension points: ``on_enter`` tells the lifecycle
the agent is live, ``on_user_turn_completed`` hands each user turn to the lifecycle (which then
decides when to reply) and ``tts_node`` puts a deadline on audio that stops coming. If you
override one of these, call ``super()``. Outside a voicefsm session (a plain ``AgentSession``),
a ``VoiceAgent`` behaves as a plain livekit agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import Agent, ModelSettings, StopResponse, llm
from livekit.agents.voice import SpeechHandle

from voicefsm.agent.stall import until_audio_stalls
from voicefsm.context import ParticipantMetadata, RoomMetadata

DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant. Answer in one to three short spoken sentences, "
    "without lists or markdown."
)
DEFAULT_APOLOGY = "Sorry, I couldn't answer that just now. Could you say it again?"
DEFAULT_FAREWELL = "Thanks for calling. Goodbye!"

#: A greeting: the text, or a function of the room's and the caller's (parsed) metadata.
Greeting = str | Callable[[RoomMetadata, ParticipantMetadata], str]


class AgentRuntime(Protocol):
    """What a running voicefsm session offers the agent it runs (implemented by the runtime)."""

    @property
    def audio_stall_deadline_s(self) -> float: ...

    def agent_entered(self, agent: VoiceAgent) -> None: ...

    async def user_turn(self, message: llm.ChatMessage) -> None: ...

    def synthesis_failed(self, speech: SpeechHandle) -> None: ...


class VoiceAgent(Agent):
    """A livekit ``Agent`` with a greeting, an apology and a farewell, run by the lifecycle.

    ``greeting`` is text or a function of ``(room, participant)`` metadata; without one, the
    caller is greeted by name when their metadata carries one. A room's own greeting (room
    metadata ``agent.greeting``) takes precedence. Other keyword arguments go to livekit's
    ``Agent`` (``tools``, ``chat_ctx``, ``llm``…).
    """

    def __init__(
        self,
        *,
        instructions: str = DEFAULT_INSTRUCTIONS,
        greeting: Greeting | None = None,
        apology: str = DEFAULT_APOLOGY,
        farewell: str = DEFAULT_FAREWELL,
        **livekit_options: Any,  # noqa: ANN401 (livekit's Agent keywords, passed on as given)
    ) -> None:
        super().__init__(instructions=instructions, **livekit_options)
        self.greeting = greeting
        self.apology = apology
        self.farewell = farewell
        self._runtime: AgentRuntime | None = None

    def _bind(self, runtime: AgentRuntime) -> None:
        """Called by the voicefsm session that runs this agent (before it enters)."""
        self._runtime = runtime

    async def on_enter(self) -> None:
        """The agent is live in the session: the lifecycle moves on (the first agent joins,
        a later one is a handoff)."""
        if self._runtime is not None:
            self._runtime.agent_entered(self)

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        """Hand the turn to the lifecycle, which decides when to reply (so livekit must not)."""
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
