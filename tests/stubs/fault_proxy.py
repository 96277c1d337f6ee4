"""A programmable HTTP fault proxy on 127.0.0.1 in front of a real backend.

Each request to an API path takes the next fault from a script (or passes through when the
script is empty): answer 500/503 (with ``Retry-After``), reset the connection before or after the
backend applied the request, or apply it and answer only after a delay (so the client times out
and retries: a duplicate the backend must absorb). ``/healthz`` always passes.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from aiohttp import web

from tests.stubs.threaded import serve_app

_FORWARDED = ("content-type", "authorization")


@dataclass(frozen=True)
class Fault:
    kind: str  # "status", "reset_before", "reset_after", "slow_after", "delay_before", "pass"
    status: int = 503
    retry_after: str | None = None
    delay_s: float = 0.0


@dataclass
class FaultProxy:
    upstream: str
    url: str = ""
    script: deque[Fault] = field(default_factory=deque)
    random_faults: list[Fault] = field(default_factory=list)
    always: Fault | None = None  # applied to every API request (e.g. added latency)
    seen: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0
    _rng_state: int = 12345

    def _next_fault(self) -> Fault:
        if self.always is not None:
            return self.always
        if self.script:
            return self.script.popleft()
        if self.random_faults:
            # A tiny LCG keeps the sequence reproducible without sharing global random state.
            self._rng_state = (self._rng_state * 1103515245 + 12345) % 2**31
            index = self._rng_state % (len(self.random_faults) * 4)
            if index < len(self.random_faults):
                return self.random_faults[index]
        return Fault("pass")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fault = Fault("pass") if request.path == "/healthz" else self._next_fault()
        self.seen[fault.kind] += 1
        body = await request.read()
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response({"detail": "injected"}, status=fault.status, headers=headers)
        if fault.kind == "delay_before":
            await asyncio.sleep(fault.delay_s)
        if fault.kind == "reset_before":
            request.transport.close()  # type: ignore[union-attr]
            raise ConnectionResetError
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            upstream = await client.request(
                request.method,
                request.path_qs,
                content=body,
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() in ("content-type", "authorization")
                },
            )
        self.forwarded += 1
        if fault.kind == "reset_after":
            request.transport.close()  # type: ignore[union-attr]
            raise ConnectionResetError
        if fault.kind == "slow_after":
            await asyncio.sleep(fault.delay_s)
        return web.Response(
            body=upstream.content,
            status=upstream.status_code,
            content_type=upstream.headers.get("content-type", "application/json").split(";")[0],
        )


@contextmanager
def fault_proxy(upstream: str, *, port: int = 0) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    with serve_app(app, port=port) as url:
        proxy.url = url
        yield proxy
