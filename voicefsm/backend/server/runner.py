"""Serving the reference backend: in the foreground (the CLI), or in a background thread (the
embedded backend of ``voicefsm simulate`` and the tests), always on a real socket, always with
its limits (see ``limits``, ``admission``, ``connections`` and ``log_limit``)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from pydantic import SecretStr

from voicefsm.backend.server.app import create_app
from voicefsm.backend.server.connections import GuardedConfig, within_open_files
from voicefsm.backend.server.limits import ServerLimits
from voicefsm.backend.server.livekit_rooms import RoomCreator
from voicefsm.backend.server.log_limit import repeats_limited


def _config(
    database_url: str,
    token: SecretStr | None,
    rooms: RoomCreator | None,
    limits: ServerLimits | None,
    log_level: str,
    *,
    caller_secret: SecretStr | None = None,
) -> uvicorn.Config:
    limits = within_open_files(limits or ServerLimits.defaults())
    app = create_app(
        database_url, token=token, rooms=rooms, limits=limits, caller_secret=caller_secret
    )
    return GuardedConfig(app, limits=limits, log_level=log_level)


def throwaway_secret() -> SecretStr:
    """A caller-key secret for one embedded backend's life (``simulate`` without
    ``VOICEFSM_BACKEND_CALLER_KEY_SECRET``): its callers resume within the run only."""
    return SecretStr(secrets.token_hex(32))


def serve(
    host: str,
    port: int,
    database_url: str,
    *,
    token: SecretStr | None = None,
    rooms: RoomCreator | None = None,
    limits: ServerLimits | None = None,
    caller_secret: SecretStr | None = None,
) -> None:
    """Run until interrupted (SIGINT/SIGTERM shut it down gracefully)."""
    config = _config(database_url, token, rooms, limits, "info", caller_secret=caller_secret)
    config.host, config.port = host, port
    with repeats_limited():
        uvicorn.Server(config).run()


@contextmanager
def running_backend(
    database_url: str,
    *,
    token: SecretStr | None = None,
    rooms: RoomCreator | None = None,
    host: str = "127.0.0.1",
    limits: ServerLimits | None = None,
    caller_secret: SecretStr | None = None,
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Serve in a background thread, on ``sock`` (bound, by another process perhaps) or on an
    ephemeral port of ``host``; yields the base URL."""
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        _config(database_url, token, rooms, limits, "warning", caller_secret=caller_secret)
    )
    # uvicorn only installs signal handlers on the main thread, so ours stay untouched.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="voicefsm-backend", daemon=True
    )
    with repeats_limited():
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    msg = "the embedded backend failed to start"
                    raise RuntimeError(msg)
                threading.Event().wait(0.01)
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
