"""voicefsm: LiveKit voice agents whose session lifecycle is an explicit, guarded state machine.

The lifecycle (``Lifecycle``, ``State``, ``Trigger``…) is pure and imports nothing heavy. The
names that need livekit (``VoiceAgent``, ``open_session``, ``build_server``…) are imported on
first use, so ``import voicefsm`` stays quick for the command line and for unit tests.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

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
)
from voicefsm.settings import Settings, load_settings

if TYPE_CHECKING:
    from voicefsm.agent import VoiceAgent
    from voicefsm.engine.assembly import open_session
    from voicefsm.engine.session import VoiceSession
    from voicefsm.providers import Providers
    from voicefsm.worker.server import build_server

__version__ = _version("voicefsm")

#: Public names that import livekit, by the module they come from.
_LAZY = {
    "VoiceAgent": "voicefsm.agent",
    "Providers": "voicefsm.providers",
    "open_session": "voicefsm.engine.assembly",
    "VoiceSession": "voicefsm.engine.session",
    "build_server": "voicefsm.worker.server",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'voicefsm' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "STATES",
    "TRANSITIONS",
    "Effects",
    "EndReason",
    "Lifecycle",
    "Outcome",
    "Providers",
    "Settings",
    "State",
    "Timeline",
    "TimelineEntry",
    "Trigger",
    "Utterance",
    "VoiceAgent",
    "VoiceSession",
    "__version__",
    "build_server",
    "load_settings",
    "open_session",
]
