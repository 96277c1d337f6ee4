"""A programmable HTTP fault proxy on 127.0.0.1 in front of a real backend.

Each request to an API path takes the next fault from a script (or passes through when the
script is empty): answer 500/503 (with ``Retry-After``), reset the connection before or after the
backend applied the request, apply it and answer only after a delay or a byte at a time (so the
client times out and retries: a duplicate the backend must absorb), or delay it before applying.
Faults come from a script, for every request (``always``), or at random at a given ``rate``
(seeded). ``/healthz`` always passes. A ``gate`` holds the requests to paths ending with
``gated`` until it is set: a read that must come after something the test waits for.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from aiohttp import web

from trials.stubs.threaded import serve_app

_FORWARDED = ("content-type", "authorization")


@dataclass(frozen=True)
class Fault:
    # "status", "reset_before", "reset_after", "slow_after", "slow_drip", "delay_before", "pass"
    kind: str
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
    rate: float = 0.25  # the share of requests that get one of ``random_faults``
    seed: int = 12345
    gate: threading.Event | None = None  # set: the requests it holds go on
    gated: str = "/messages"
    gate_timeout_s: float = 60.0  # a guard against a test that never opens it
    seen: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0
    #: The upstream's answers by status, as forwarded (a saturated backend's 503s, say).
    answered: Counter[int] = field(default_factory=Counter)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        # Its own generator: reproducible, and no shared global random state.
        self._rng = random.Random(self.seed)

    def _next_fault(self) -> Fault:
        if self.always is not None:
            return self.always
        if self.script:
            return self.script.popleft()
        if self.random_faults and self._rng.random() < self.rate:
            return self._rng.choice(self.random_faults)
        return Fault("pass")

    @property
    def injected(self) -> int:
        return sum(count for kind, count in self.seen.items() if kind != "pass")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.gate is not None and request.path.endswith(self.gated):
            await asyncio.to_thread(self.gate.wait, self.gate_timeout_s)
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
        self.answered[upstream.status_code] += 1
        if fault.kind == "reset_after":
            request.transport.close()  # type: ignore[union-attr]
            raise ConnectionResetError
        if fault.kind == "slow_after":
            await asyncio.sleep(fault.delay_s)
        if fault.kind == "slow_drip":
            return await self._drip(request, upstream, fault.delay_s)
        retry_after = upstream.headers.get("retry-after")
        return web.Response(
            body=upstream.content,
            status=upstream.status_code,
            content_type=upstream.headers.get("content-type", "application/json").split(";")[0],
            headers={"Retry-After": retry_after} if retry_after is not None else None,
        )

    @staticmethod
    async def _drip(
        request: web.Request, upstream: httpx.Response, delay_s: float
    ) -> web.StreamResponse:
        """The write is applied; its answer trickles out a byte at a time (a slow network)."""
        response = web.StreamResponse(status=upstream.status_code)
        response.content_type = "application/json"
        response.content_length = len(upstream.content)
        try:
            await response.prepare(request)
            for index in range(len(upstream.content)):
                await response.write(upstream.content[index : index + 1])
                await asyncio.sleep(delay_s)
            await response.write_eof()
        except ConnectionResetError:  # the client gave up waiting: the point of this fault
            pass
        return response


@contextmanager
def fault_proxy(
    upstream: str, *, port: int = 0, proxy: FaultProxy | None = None
) -> Iterator[FaultProxy]:
    """Serve a fault proxy for ``upstream``; pass ``proxy`` to serve an existing one again (on
    the same ``port``, after a downtime window)."""
    proxy = proxy or FaultProxy(upstream)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    with serve_app(app, port=port) as url:
        proxy.url = url
        yield proxy
