"""How much one backend process takes on, and the request body limit (size and time).

The body is read here, whole, before anything else sees it: a ``Content-Length`` over the limit
is refused before reading anything; a body without one (``Transfer-Encoding: chunked``) is read
up to the limit; and a body that does not arrive within its deadline is answered 408 and its
connection closed, so a client sending a byte a minute cannot hold a connection (or, behind
this, a database connection) for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicefsm.settings import Settings

#: How much of a refused body is read (and dropped) so that its client can read the refusal; a
#: client sending more than this has its connection closed under it.
_DRAIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """One backend process's limits (``VOICEFSM_BACKEND_*`` settings; see the README)."""

    pool_size: int
    max_requests: int
    queue_wait_s: float
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls.from_values(settings.model_dump())

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ServerLimits:
        """From settings' values by name (``backend_pool_size``…), as a child process is given
        them; other names are ignored."""
        return cls(**{f.name: values[f"backend_{f.name}"] for f in fields(cls)})

    @classmethod
    def defaults(cls) -> ServerLimits:
        """The settings' defaults, whatever the environment says (the embedded backend)."""
        known = Settings.model_fields
        return cls(**{f.name: known[f"backend_{f.name}"].default for f in fields(cls)})


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self._app = app
        self._max = max_bytes
        self._timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max):
            await self._drain(receive)
            await _refuse(413, "request body too large", scope, receive, send)
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                body = await self._read_at_most(receive)
        except TimeoutError:
            await _refuse(408, "request body not received in time", scope, receive, send)
            return
        if body is _Unread.TOO_LARGE:
            await self._drain(receive)
            await _refuse(413, "request body too large", scope, receive, send)
        elif body is not _Unread.GONE:
            await self._app(scope, _replay(body, receive), send)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop what is left of a refused body (up to a bound, within the body
        deadline) before answering: closing a socket with unread data on it resets the
        connection, and the client then never reads its 413."""
        left = _DRAIN_BYTES
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout_s):
                while left > 0:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    left -= len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return

    async def _read_at_most(self, receive: Receive) -> bytes | _Unread:
        """The whole body, or why not."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _Unread.GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                return _Unread.TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Unread(enum.Enum):
    TOO_LARGE = "the body passed the limit"
    GONE = "the client went away"


async def _refuse(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of a refused body may still be on its way: the connection cannot be reused.
    response = JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body, then whatever comes next."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
