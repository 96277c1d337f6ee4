"""Speech and language providers: what a session listens, thinks and speaks with.

:class:`Providers` is the set one session runs on. :func:`voicefsm.providers.real.build_providers`
makes the production set from settings (Deepgram, ElevenLabs, an LLM); the scripted ones
(:mod:`voicefsm.providers.scripted`) run sessions offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from livekit.agents import TurnHandlingOptions, stt, tts, vad
from livekit.agents import llm as lk_llm

from voicefsm.livekit_compat import SessionConnectOptions

TurnDetection = Literal["stt", "vad", "manual", "model"]


@dataclass(frozen=True)
class Providers:
    """The STT, LLM, TTS and VAD of one session, and how it detects the end of a turn.

    ``stt`` and ``tts`` may be ``None`` for a text-only session (``AgentSession.run`` tests).
    """

    llm: lk_llm.LLM[Any]
    stt: stt.STT[Any] | None = None
    tts: tts.TTS[Any] | None = None
    vad: vad.VAD | None = None
    turn_detection: TurnDetection = "stt"
    #: Silence after speech before a turn counts as complete (livekit's endpointing delay).
    min_endpointing_delay_s: float = 0.5
    #: livekit's retries and timeouts per provider, and how many unrecoverable provider errors
    #: in a row close the session (``None``: livekit's defaults).
    conn_options: SessionConnectOptions | None = None
    #: livekit's turn handling laid over voicefsm's (the two fields above, preemptive
    #: generation off), section by section: a turn-detector model, interruption options,
    #: preemptive generation. See :mod:`voicefsm.providers.turns`.
    turn_handling: TurnHandlingOptions | None = None
    #: livekit's echo-cancellation warm-up: barge-ins are ignored for the agent's first 3 s of
    #: speech, while a room's echo canceller adapts. Off for devices that never echo the agent
    #: (the simulator's).
    echo_cancellation_warmup: bool = True

    async def aclose(self) -> None:
        """Close each provider's connections (they are built per job and end with it)."""
        for provider in (self.stt, self.llm, self.tts, self.vad):
            if provider is None:
                continue
            try:
                await provider.aclose()  # type: ignore[union-attr]
            except Exception:  # noqa: S112 (a provider failing to close must not stop the rest)
                continue


__all__ = ["Providers"]
