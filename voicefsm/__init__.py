"""voicefsm: LiveKit voice agents whose session lifecycle is an explicit, guarded state machine."""

from importlib.metadata import version as _version

from voicefsm.lifecycle import (
    STATES,
    TRANSITIONS,
    Effects,
    EndReason,
    Lifecycle,
    Outcome,
    State,
    Timeline,
    TimelineEntry,
    Trigger,
    Utterance,
    build_lifecycle,
)

__version__ = _version("voicefsm")

__all__ = [
    "STATES",
    "TRANSITIONS",
    "Effects",
    "EndReason",
    "Lifecycle",
    "Outcome",
    "State",
    "Timeline",
    "TimelineEntry",
    "Trigger",
    "Utterance",
    "__version__",
    "build_lifecycle",
]
