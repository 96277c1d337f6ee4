"""voicefsm's exceptions: one hierarchy, so callers can catch as broadly as they mean.

::

    VoiceFsmError
    ├── ConfigurationError      a setting is missing or invalid (the message names the variable)
    ├── DiagramError            the diagrams could not be rendered
    ├── AudioStalledError       a speech's audio stopped coming mid-synthesis (a stalled TTS)
    ├── FlowError
    │   ├── FlowDefinitionError a conversation flow is wrong as declared (names the node at fault)
    │   └── FlowRestoreError    a stored flow state does not fit the flow (unknown node, bad data)
    ├── OutboxError
    │   └── SpoolFullError      the spool holds its maximum of undelivered writes
    └── BackendError
        ├── BackendUnavailable  transport failure, timeout, 5xx, 429, 401/403: retry later
        │   └── BackendMisdirected  404, 405, a redirect…: the URL is wrong, not the request
        └── BackendRejected     400, 413, 422: the backend refused this request as it is

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


class FlowError(VoiceFsmError):
    """A conversation flow (:mod:`voicefsm.flows`) cannot be defined or restored as given."""


class FlowDefinitionError(FlowError):
    """A flow is wrong as declared: every problem found, each naming its node, in one error.

    ``problems`` holds them one by one (the message lists them all)."""

    def __init__(self, flow: str, problems: list[str] | tuple[str, ...]) -> None:
        self.flow = flow
        self.problems = tuple(problems)
        listed = "".join(f"\n  - {problem}" for problem in self.problems)
        count = "1 problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        super().__init__(f"flow {flow}: {count}:{listed}")


class FlowRestoreError(FlowError):
    """A stored flow state does not fit the flow it is restored into (an unknown node, data the
    flow's model refuses, a malformed snapshot); the flow is left as it was."""


class OutboxError(VoiceFsmError):
    """The durable outbox could not take or deliver a write."""


class SpoolFullError(OutboxError):
    """The spool already holds its maximum number of undelivered writes."""


class BackendError(VoiceFsmError):
    """A call to the backend failed."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        #: The URL that answered (no credentials, no query), for the operator.
        self.url = url


class BackendUnavailable(BackendError):  # noqa: N818 (reads as a state, like httpx's errors)
    """The backend could not be reached or answered 5xx/429/408; try again later.

    ``retry_after`` is the backend's own ``Retry-After``, in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after


class BackendMisdirected(BackendUnavailable):
    """The answer is about the URL, not the request (404, 405, a redirect, 501): the backend
    URL is misconfigured, or a proxy in front of it is. Nothing is wrong with the write."""


class BackendRejected(BackendError):  # noqa: N818
    """The backend refused the request itself (400, 413, 422): sent again unchanged, it would
    be refused again."""
