"""Handing items from event loops to a thread's queue a loop pass at a time.

A turn's callbacks write several events at once, and the sessions sharing a loop write at
once too. Queued one by one, each write woke the spool thread, which took the GIL from the
loop for a commit of its own. Handed over here, the writes of one pass of a loop reach the
queue together at the end of that pass (one ``call_soon``): one wake-up and one commit, and
no write waits longer than the pass it was made in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopHandover(Generic[T]):
    """Collects items per event loop; ``put`` gets each loop pass's items as one list.
    Items added outside an event loop are put at once, alone."""

    def __init__(self, put: Callable[[list[T]], None]) -> None:
        self._put = put
        #: Items added during the current pass of each loop (each loop's thread touches only
        #: its own entry).
        self._pending: dict[asyncio.AbstractEventLoop, list[T]] = {}

    def add(self, item: T) -> None:
        """Never blocks."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._put([item])
            return
        pending = self._pending.get(loop)
        if pending is None:
            self._pending[loop] = [item]
            loop.call_soon(self._hand_over, loop)
        else:
            pending.append(item)

    def hand_over_now(self) -> None:
        """Put what the running loop collected so far (before something that must follow it
        in the queue)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._hand_over(loop)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending.pop(loop, None)
        if pending:
            self._put(pending)
