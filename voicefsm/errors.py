"""voicefsm's exceptions: one hierarchy, so callers can catch as broadly as they mean.

::

    VoiceFsmError
    ├── ConfigurationError      a setting is missing or invalid (the message names the variable)
    ├── DiagramError            the diagrams could not be rendered
    ├── AudioStalledError       a speech's audio stopped coming mid-synthesis (a stalled TTS)
    ├── OutboxError
    │   └── SpoolFullError      the spool holds its maximum of undelivered writes
    └── BackendError
        ├── BackendUnavailable  transport failure, timeout, 5xx, 429: worth retrying later
        └── BackendRejected     4xx: the backend refused this request; retrying will not help

Messages never contain secrets, tokens or transcript text.
"""

from __future__ import annotations


class VoiceFsmError(Exception):
    """Base of every error voicefsm raises on purpose."""


class ConfigurationError(VoiceFsmError):
    """A setting is missing or invalid."""


class DiagramError(VoiceFsmError):
    """The diagrams could not be rendered (e.g. the pinned SVG renderer is missing)."""


class AudioStalledError(VoiceFsmError):
    """A synthesis stopped producing audio for longer than the session allows."""


class OutboxError(VoiceFsmError):
    """The durable outbox could not take or deliver a write."""


class SpoolFullError(OutboxError):
    """The spool already holds its maximum number of undelivered writes."""


class BackendError(VoiceFsmError):
    """A call to the backend failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BackendUnavailable(BackendError):  # noqa: N818 (reads as a state, like httpx's errors)
    """The backend could not be reached or answered 5xx/429/408; try again later.

    ``retry_after`` is the backend's own ``Retry-After``, in seconds, when it gave one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BackendRejected(BackendError):  # noqa: N818
    """The backend answered 4xx: it will not accept this request as it is."""
