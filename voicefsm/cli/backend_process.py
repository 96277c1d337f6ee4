"""``simulate``'s embedded backend, started in a child process before the command's own imports.

Importing livekit-agents takes the command about 2.5 s of one core and the backend's FastAPI
and SQLAlchemy about 1 s more; in a thread of the same process they run one after the other,
in a child they overlap on the second core, and the child's exit (its database closed, its heap
dropped) overlaps the report. This module imports only the standard library, so that the child
starts first. The child's side, and the protocol, are in ``voicefsm.backend.server.child``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Any

from voicefsm.settings import Settings, embedded_database

#: How long the child may take to start serving: its imports and its database's schema.
START_TIMEOUT_S = 60.0
#: How long it may take to stop once told to: in-flight requests answered, the database closed.
STOP_TIMEOUT_S = 15.0


class BackendStartError(RuntimeError):
    """The child backend exited or said ``failed`` before serving (the message says why)."""


@dataclass
class BackendProcess:
    """A running child backend: its URL is known (and its socket bound) from the start."""

    url: str
    _process: subprocess.Popen[bytes]
    _lifeline: IO[bytes]

    @classmethod
    def start(
        cls,
        database_url: str,
        *,
        token: str | None,
        caller_secret: str,
        limits: dict[str, Any],
    ) -> BackendProcess:
        """Start serving ``database_url``; ``limits`` holds the settings' values by name
        (``backend_pool_size``…: see ``ServerLimits.from_values``)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port, fd = sock.getsockname()[1], sock.fileno()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "voicefsm.backend.server.child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(fd,),
                start_new_session=True,  # a terminal's Ctrl-C is the parent's to handle
            )
        finally:
            sock.close()  # the child holds its own copy
        assert process.stdin is not None  # noqa: S101 (asked for above)
        config = {
            "fd": fd,  # pass_fds keeps the number
            "database_url": database_url,
            "token": token,
            "caller_secret": caller_secret,
            "limits": limits,
        }
        process.stdin.write(json.dumps(config).encode() + b"\n")
        process.stdin.flush()
        return cls(f"http://127.0.0.1:{port}", process, process.stdin)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status once it exited (see ``stop``), else ``None``."""
        return self._process.poll()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until the child serves; raises ``BackendStartError`` with its reason."""
        stdout = self._process.stdout
        assert stdout is not None  # noqa: S101
        line = _read_line(stdout, timeout_s)
        if line == "ready":
            return
        self.stop()
        why = line.removeprefix("failed ").strip() if line else "it exited"
        raise BackendStartError(why or "it exited")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Close the lifeline and wait for a graceful stop (killed after ``timeout_s``)."""
        with contextlib.suppress(OSError):  # a child that is gone already broke the pipe
            self._lifeline.close()
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _read_line(stream: IO[bytes], timeout_s: float) -> str:
    """The child's one-line answer, or "" when it exited or said nothing in time."""
    readable, _, _ = select.select([stream], [], [], timeout_s)
    if not readable:
        return ""
    return stream.readline().decode(errors="replace").strip()


def start_embedded(settings: Settings) -> BackendProcess:
    """``simulate``'s embedded backend for ``settings``: its SQLite file (see
    ``embedded_database``), its token, caller-key secret (a throwaway one unless set: callers
    resume within the run only) and limits (the same ``VOICEFSM_BACKEND_*`` as ``backend``)."""
    database = embedded_database(settings)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token, secret = settings.backend_token, settings.backend_caller_key_secret
    return BackendProcess.start(
        f"sqlite:///{database}",
        token=None if token is None else token.get_secret_value(),
        caller_secret=secrets.token_hex(32) if secret is None else secret.get_secret_value(),
        limits={
            name: value
            for name, value in settings.model_dump().items()
            if name.startswith("backend_") and type(value) in (int, float)
        },
    )
