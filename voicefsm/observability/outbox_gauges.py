"""The outbox gauges (pending writes, oldest age), kept current by one task per event loop.

The figures are the spool's, the same for every session writing to it, so refreshing them once
per session would read the same file N times: at a hundred sessions, twenty spool reads a second
on the thread pool, each taking the GIL from the voice path. One refresher per event loop and
metrics registry serves all of its sessions; it runs while at least one session is watched, and
stops with the last.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

#: How often the gauges are refreshed while any session is watched.
OUTBOX_GAUGE_PERIOD_S = 5.0


class SpoolReading(Protocol):
    """What a spool's figures say (``voicefsm.persistence.SpoolStatus`` has it)."""

    @property
    def pending(self) -> int: ...

    @property
    def oldest_age_s(self) -> float | None: ...


class Figures(Protocol):
    """Where the spool's figures come from: an outbox."""

    @property
    def spool_path(self) -> Path: ...

    @property
    def destination(self) -> str | None:
        """The backend whose rows its figures count (None: every row)."""

    async def status(self) -> SpoolReading: ...


class GaugeSink(Protocol):
    """Where they go: the metric families (:class:`~.prometheus.PrometheusMetrics`)."""

    def outbox(self, pending: int, oldest_age_s: float | None) -> None: ...


class OutboxGauges:
    """One loop's refresher for one set of metric families."""

    def __init__(self, sink: GaugeSink, period_s: float = OUTBOX_GAUGE_PERIOD_S) -> None:
        self._sink = sink
        self._period_s = period_s
        self._watched: dict[int, Figures] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, outbox: Figures) -> Callable[[], None]:
        """Keep the gauges current for ``outbox`` (from the loop); returns what stops it."""
        key = id(outbox)
        self._watched[key] = outbox
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._refresh(), name="voicefsm-outbox-gauges"
            )

        def unwatch() -> None:
            self._watched.pop(key, None)
            if not self._watched and self._task is not None:
                self._task.cancel()
                self._task = None

        return unwatch

    async def _refresh(self) -> None:
        while self._watched:
            # One read per spool file and backend (sessions normally share the process's one
            # spool and backend); an outbox's figures are its backend's rows.
            by_spool = {
                (outbox.spool_path, outbox.destination): outbox for outbox in self._watched.values()
            }
            figures = [await outbox.status() for outbox in by_spool.values()]
            pending = sum(status.pending for status in figures)
            ages = [status.oldest_age_s for status in figures if status.oldest_age_s is not None]
            self._sink.outbox(pending, max(ages) if ages else None)
            await asyncio.sleep(self._period_s)


#: Per metrics object, per event loop (sessions may run on several loops, one per thread).
_REFRESHERS: weakref.WeakKeyDictionary[
    GaugeSink, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OutboxGauges]
] = weakref.WeakKeyDictionary()


def outbox_gauges(sink: GaugeSink) -> OutboxGauges:
    """The refresher of ``sink``'s gauges on the running loop."""
    loop = asyncio.get_running_loop()
    per_loop = _REFRESHERS.setdefault(sink, weakref.WeakKeyDictionary())
    refresher = per_loop.get(loop)
    if refresher is None:
        refresher = per_loop[loop] = OutboxGauges(sink)
    return refresher
