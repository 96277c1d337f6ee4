"""A TCP load balancer for the scale-out trial: each connection goes to the next backend replica
in turn, skipping one that refuses connections (a replica SIGKILLed mid-run), as a cloud load
balancer's health checks would soon do. Bytes are relayed as they are; nothing is retried here
(a request cut off by a dying replica fails, and the outbox retries it)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class RoundRobin:
    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._next = 0

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for _ in range(len(self._ports)):
            port = self._ports[self._next % len(self._ports)]
            self._next += 1
            try:
                upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # a dead replica: the next one
            await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))
            return
        client_w.close()


@contextmanager
def round_robin(ports: list[int]) -> Iterator[str]:
    """Serve the balancer on an ephemeral port in a thread of its own; yields its URL."""
    started = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        server = loop.run_until_complete(
            asyncio.start_server(RoundRobin(ports).handle, "127.0.0.1", 0)
        )
        holder["port"] = server.sockets[0].getsockname()[1]
        started.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, name="round-robin", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
