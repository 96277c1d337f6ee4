"""A log that resource exhaustion cannot flood: each kind of record is let through a few times a
minute, and what was dropped is said once.

Out of file descriptors, the server logged a full traceback for every failed ``accept()`` and
every failed request: 118 MB in 30 s, which then fills the disk as well. A record's kind is its
logger, level and the first line of its message template (the text before ``%`` arguments
are merged): asyncio writes each failed callback as one message whose later lines differ (the
timer's due time), and a failed ``accept()`` loop schedules hundreds of them at once. Distinct
problems still each get through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: The loggers the reference backend's failures arrive on: uvicorn's, asyncio's (failed
#: ``accept()``), and its own.
BACKEND_LOGGERS = ("uvicorn.error", "asyncio", "voicefsm.backend")
_NOTICE = "repeated log records suppressed"
_MAX_KINDS = 1024  # kinds remembered at once; a flood of distinct templates starts afresh


@dataclass(slots=True)
class _Window:
    started: float
    passed: int = 0
    dropped: int = 0


class RepeatLimit(logging.Filter):
    """Lets ``burst`` records of each kind through per ``window_s``; drops the rest, and logs one
    notice (on ``voicefsm.backend``) when a kind starts being dropped in a window."""

    def __init__(
        self,
        *,
        burst: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _NOTICE:
            return True
        kind = (record.name, record.levelno, str(record.msg).split("\n", 1)[0][:200])
        now = self._clock()
        with self._lock:
            window = self._windows.get(kind)
            if window is None or now - window.started >= self._window_s:
                if len(self._windows) >= _MAX_KINDS:
                    self._windows.clear()
                window = self._windows[kind] = _Window(now)
            if window.passed < self._burst:
                window.passed += 1
                return True
            window.dropped += 1
            first_drop = window.dropped == 1
        if first_drop:
            logging.getLogger("voicefsm.backend").warning(
                _NOTICE,
                extra={
                    "logger": record.name,
                    "kind": str(record.msg)[:200],
                    "for_s": self._window_s,
                },
            )
        return False


@contextmanager
def repeats_limited(loggers: tuple[str, ...] = BACKEND_LOGGERS) -> Iterator[RepeatLimit]:
    """While inside, repeated records on ``loggers`` are limited (one shared filter)."""
    limit = RepeatLimit()
    for name in loggers:
        logging.getLogger(name).addFilter(limit)
    try:
        yield limit
    finally:
        for name in loggers:
            logging.getLogger(name).removeFilter(limit)
