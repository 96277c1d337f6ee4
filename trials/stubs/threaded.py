"""Serve an aiohttp application on 127.0.0.1 from a thread with its own event loop, so that sync
and async tests alike can use it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def serve_app(app: web.Application, *, port: int = 0) -> Iterator[str]:
    """Yields the base URL; the server is stopped and its loop closed on exit."""
    ready = threading.Event()
    state: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", port)
            loop.run_until_complete(site.start())
            state["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            loop.close()
            return
        state["stop"] = stop = asyncio.Event()
        state["loop"] = loop
        ready.set()
        loop.run_until_complete(stop.wait())
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(timeout=10)
    if "error" in state:
        raise RuntimeError("stub server failed to start") from state["error"]  # type: ignore[arg-type]
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        loop: asyncio.AbstractEventLoop = state["loop"]  # type: ignore[assignment]
        loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(timeout=10)
