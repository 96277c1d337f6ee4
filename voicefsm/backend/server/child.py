"""The embedded backend in a process of its own (``python -m voicefsm.backend.server.child``),
started by ``voicefsm simulate`` before its own imports so that the two start-ups overlap on a
second core (see ``voicefsm.cli.backend_process`` for the parent's side).

The parent binds the listening socket and hands it over (its file descriptor is inherited), so
it knows the URL at once. Its first line on standard input is the configuration, as JSON
(secrets travel on the pipe, never in the arguments or the environment a ``ps`` shows); the
child answers one line on standard output, ``ready`` or ``failed <why>``, then serves until its
standard input closes: the parent closed it, or died. Either way the server stops gracefully,
so no acknowledged write is cut off. The child runs in a session of its own, so a terminal's
Ctrl-C reaches the parent only: the parent decides when its backend ends, after its sessions
are persisted.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import socket
import sys
from typing import Any

from pydantic import SecretStr

from voicefsm.backend.server.limits import ServerLimits
from voicefsm.backend.server.runner import running_backend


class _StartFailure(logging.Filter):
    """Holds back uvicorn's traceback of a failed start (a database that cannot be opened):
    the parent says why in one line instead."""

    def __init__(self) -> None:
        super().__init__()
        self.why: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Traceback (most recent call last)"):
            # starlette hands uvicorn the formatted traceback: its last "Type: text" line
            said = [line for line in message.splitlines() if _EXCEPTION_LINE.match(line)]
            self.why = said[-1] if said else "its application failed to start"
            return False
        return message != "Application startup failed. Exiting."


#: The line of a formatted traceback that names the exception: ``package.Type: what``.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: \S")


def _serve(config: dict[str, Any]) -> int:
    sock = socket.socket(fileno=int(config["fd"]))
    starting = _StartFailure()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(starting)
    secret = config.get("caller_secret")
    token = config.get("token")
    try:
        with running_backend(
            str(config["database_url"]),
            token=None if token is None else SecretStr(token),
            limits=ServerLimits.from_values(config["limits"]),
            caller_secret=None if secret is None else SecretStr(secret),
            sock=sock,
        ):
            uvicorn_log.removeFilter(starting)
            _answer("ready")
            sys.stdin.buffer.read()  # until the parent closes its end, or dies
    except Exception as exc:  # whatever it was, the parent says it in one line
        _answer(f"failed {starting.why or exc}".replace("\n", " "))
        return 1
    gc.freeze()  # nothing left to collect that matters: skip the exit's full collection
    return 0


def _answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        config = json.loads(sys.stdin.buffer.readline())
    except ValueError:
        _answer("failed its configuration was not JSON")
        return 2
    return _serve(config)


if __name__ == "__main__":
    sys.exit(main())
