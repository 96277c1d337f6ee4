"""The backend: its wire contract (v1), the client voicefsm uses, and a reference server
(``voicefsm.backend.server``)."""

from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import (
    CreateRoomResponse,
    ErrorEvent,
    Event,
    Message,
    MessageEvent,
    SessionSummary,
    SpeechEvent,
    TranscriptionEvent,
)

__all__ = [
    "BackendClient",
    "CreateRoomResponse",
    "ErrorEvent",
    "Event",
    "Message",
    "MessageEvent",
    "SessionSummary",
    "SpeechEvent",
    "TranscriptionEvent",
]
