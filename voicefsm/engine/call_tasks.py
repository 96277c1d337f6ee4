"""The work one call runs in the background: each effect that takes time (loading the context,
generating a reply, persisting, closing) is a task of the call, never awaited by the voice path.
A task that fails is logged by name (its exception's type only: messages may carry secrets)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from voicefsm.logs import Log


class CallTasks:
    """Starts and keeps the call's tasks (a task nobody holds can be collected mid-flight)."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "session task failed",
                extra={"task": task.get_name(), "error_type": type(task.exception()).__name__},
            )
