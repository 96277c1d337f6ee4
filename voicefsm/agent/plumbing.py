"""What differs between a real call and a simulated one: the providers, and how audio and text
reach the session (LiveKit's RoomIO, or simulated devices). Everything else is the same code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from livekit.agents import AgentSession, JobContext, room_io, stt, tts, vad
from livekit.agents import llm as lk_llm
from livekit.agents.voice.agent_session import SessionConnectOptions

from voicefsm.agent.controller import VoiceSession

TurnDetection = str  # "stt", "vad" or "manual"


@dataclass(frozen=True)
class Providers:
    stt: stt.STT[Any]
    llm: lk_llm.LLM[Any]
    tts: tts.TTS[Any]
    vad: vad.VAD | None
    turn_detection: TurnDetection
    #: Silence after speech before a turn counts as complete (livekit's endpointing delay).
    min_endpointing_delay_s: float = 0.5
    #: livekit's retries and timeouts per provider, and how many unrecoverable provider errors
    #: in a row close the session (``None``: livekit's defaults).
    conn_options: SessionConnectOptions | None = None


class Plumbing(Protocol):
    def providers(self, ctx: JobContext) -> Providers:
        """The STT, LLM, TTS and VAD for this job's session."""

    def attach(
        self, session: AgentSession[Any], ctx: JobContext, controller: VoiceSession
    ) -> dict[str, Any]:
        """Connect the session's input and output; returns extra ``session.start`` arguments."""


class RoomPlumbing:
    """Production: providers from settings; audio and typed chat through the LiveKit room."""

    def __init__(self, providers: Providers) -> None:
        self._providers = providers

    def providers(self, ctx: JobContext) -> Providers:
        return self._providers

    def attach(
        self, session: AgentSession[Any], ctx: JobContext, controller: VoiceSession
    ) -> dict[str, Any]:
        async def typed(_session: AgentSession[Any], event: room_io.TextInputEvent) -> None:
            # Typed chat (lk.chat) takes the same path as speech: the lifecycle decides.
            await controller.typed_text(event.text)

        options = room_io.RoomOptions(text_input=room_io.TextInputOptions(text_input_cb=typed))
        return {"room": ctx.room, "room_options": options}
