"""What uvicorn's h11 protocol lacks against slow or many clients: a deadline on a request's
headers, and a cap on open connections.

uvicorn starts its keep-alive timer only once a response is sent, and stops it on any byte
received: a client that opens a connection and sends its headers slowly (or never) holds the
connection, and its file descriptor, for ever. A few hundred such clients reached the
open-files limit; then ``accept()`` failed, ``/healthz`` stopped answering, and the log filled
with tracebacks. (uvicorn 0.55 has no option for either; ``limit_concurrency`` answers 503 to
requests but still accepts and keeps the connections.)
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import replace
from typing import Literal, cast

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from voicefsm.backend.server.limits import ServerLimits

#: File descriptors kept for everything but client connections: the listening socket, log
#: files, the interpreter's own; plus up to three per database connection (a SQLite database,
#: its WAL and its shared memory).
_RESERVED_FDS = 64
_FDS_PER_DATABASE_CONNECTION = 3


class GuardedConfig(uvicorn.Config):
    """uvicorn's configuration, carrying the limits that :class:`GuardedH11` applies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: ServerLimits,
        log_level: str,
        lifespan: Literal["on"] = "on",
    ) -> None:
        # access_log off: request lines would carry conversation ids into shared logs.
        super().__init__(
            app, http=GuardedH11, log_level=log_level, access_log=False, lifespan=lifespan
        )
        self.limits = limits


def within_open_files(limits: ServerLimits) -> ServerLimits:
    """``limits`` with the connection cap lowered to fit this process's open-files limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits
    room = max(1, soft - _RESERVED_FDS - _FDS_PER_DATABASE_CONNECTION * limits.pool_size)
    return replace(limits, max_connections=min(limits.max_connections, room))


class GuardedH11(H11Protocol):
    """One client connection: closed when a request's headers take longer than the deadline,
    and, when the server is at its connection cap, the oldest connection still waiting for a
    request makes room for a new one (or the new one is closed)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: uvicorn.server.ServerState,
        app_state: dict[str, object],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = config.limits if isinstance(config, GuardedConfig) else ServerLimits.defaults()
        self._header_timeout_s = limits.header_timeout_s
        self._max_connections = limits.max_connections
        self._header_deadline: asyncio.TimerHandle | None = None
        #: When this connection started waiting for a request's headers (None: not waiting).
        self.waiting_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's signature; the event loop hands a stream server's protocol a Transport.
        super().connection_made(cast("asyncio.Transport", transport))
        self._await_request()
        if len(self.connections) > self._max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a request's head has arrived
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_request()  # the next request on this kept-alive connection

    def _await_request(self) -> None:
        self._stop_waiting()
        self.waiting_since = self.loop.time()
        self._header_deadline = self.loop.call_later(self._header_timeout_s, self._give_up)

    def _stop_waiting(self) -> None:
        self.waiting_since = None
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _give_up(self) -> None:
        """Close the connection: no request came in time (or room is needed)."""
        self._header_deadline = None
        if self.waiting_since is None or self.transport.is_closing():
            return
        self.waiting_since = None
        self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    def _make_room(self) -> None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11) and c is not self and c.waiting_since is not None
        ]
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0, default=self)
        oldest._give_up()
