"""Bounded concurrency: the API serves so many requests at once, and tells the rest to come back.

Without it, a thousand concurrent reads queued on a database pool of fifteen for 30 s and then
failed with 500 (``QueuePool limit … reached``): a client cannot tell that from a bug, and
nobody retries a bug. Here a request waits a short while for its turn; when none comes it is
answered 503 with ``Retry-After``, which voicefsm's relay (and any HTTP client) retries.
``/healthz`` stays outside: liveness must answer when the API is saturated.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

_LOG = logging.getLogger("voicefsm.backend")
#: Seconds a refused client is asked to wait: long enough for a turn to free up, short enough
#: that a retrying relay loses little.
RETRY_AFTER_S = 1


def unavailable(detail: str) -> JSONResponse:
    """The one way this server says "not now": 503 with ``Retry-After``."""
    return JSONResponse(
        {"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


class Admission:
    """Lets at most ``slots`` requests under ``prefix`` run at once; a request that waits
    ``wait_s`` without a turn is answered 503."""

    def __init__(self, app: ASGIApp, *, prefix: str, slots: int, wait_s: float) -> None:
        self._app = app
        self._prefix = prefix
        self._slots = slots
        self._wait_s = wait_s
        self._turns: asyncio.Semaphore | None = None  # made on the server's own loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(self._slots)
        turns = self._turns
        try:
            async with asyncio.timeout(self._wait_s):
                await turns.acquire()
        except TimeoutError:
            _LOG.warning("backend saturated; request answered 503", extra={"slots": self._slots})
            await unavailable("the backend is busy; retry")(scope, receive, send)
            return
        try:
            await self._app(scope, receive, send)
        finally:
            turns.release()
