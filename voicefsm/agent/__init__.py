"""Your agent: a livekit ``Agent`` subclass with a greeting, an apology, a farewell and hooks on
the lifecycle, run by voicefsm's call engine (:mod:`voicefsm.engine`)."""

from voicefsm.agent.definition import (
    DEFAULT_APOLOGY,
    DEFAULT_FAREWELL,
    DEFAULT_FILLER,
    DEFAULT_INSTRUCTIONS,
    Greeting,
    VoiceAgent,
)
from voicefsm.agent.graph import agent_graph, leads_to
from voicefsm.agent.hooks import HookContext, entering, leaving, on_transition
from voicefsm.agent.tools import tool_deadline

__all__ = [
    "DEFAULT_APOLOGY",
    "DEFAULT_FAREWELL",
    "DEFAULT_FILLER",
    "DEFAULT_INSTRUCTIONS",
    "Greeting",
    "HookContext",
    "VoiceAgent",
    "agent_graph",
    "entering",
    "leads_to",
    "leaving",
    "on_transition",
    "tool_deadline",
]
