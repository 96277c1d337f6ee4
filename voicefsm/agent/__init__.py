"""Your agent: a livekit ``Agent`` subclass with a greeting, an apology, a farewell and hooks on
the lifecycle, run by voicefsm's runtime (:mod:`voicefsm.runtime`)."""

from voicefsm.agent.definition import (
    DEFAULT_APOLOGY,
    DEFAULT_FAREWELL,
    DEFAULT_INSTRUCTIONS,
    Greeting,
    VoiceAgent,
)

__all__ = ["DEFAULT_APOLOGY", "DEFAULT_FAREWELL", "DEFAULT_INSTRUCTIONS", "Greeting", "VoiceAgent"]
