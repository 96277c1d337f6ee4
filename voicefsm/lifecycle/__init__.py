"""The session lifecycle: pure, importing neither livekit nor httpx."""

from voicefsm.lifecycle.effects import Effects, Utterance
from voicefsm.lifecycle.machine import Lifecycle, Outcome, Refusal, build_lifecycle
from voicefsm.lifecycle.states import EndReason, State, Trigger
from voicefsm.lifecycle.table import STATES, TRANSITIONS, Action, Edge, Guard, StateSpec
from voicefsm.lifecycle.timeline import Timeline, TimelineEntry

__all__ = [
    "STATES",
    "TRANSITIONS",
    "Action",
    "Edge",
    "Effects",
    "EndReason",
    "Guard",
    "Lifecycle",
    "Outcome",
    "Refusal",
    "State",
    "StateSpec",
    "Timeline",
    "TimelineEntry",
    "Trigger",
    "Utterance",
    "build_lifecycle",
]
