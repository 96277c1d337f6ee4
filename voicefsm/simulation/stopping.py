"""Stopping a simulation: SIGINT or SIGTERM, at any moment, ends it at once.

The first signal ends every call in progress (the caller hangs up: no farewell), lets each be
persisted within its shutdown budget, and starts nothing new; a second signal stops waiting for
that. :meth:`StopRequest.install` takes the signals for the whole run (call it first, before the
heavy imports, so that no moment of the command is without it); ``voicefsm simulate`` then
exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether (and by which signal) the run was asked to stop. Thread-safe."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        #: A second request: stop waiting for calls to persist.
        self.hurried = threading.Event()
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> bool:
        """Take SIGINT and SIGTERM (main thread only; elsewhere the caller owns signals)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._signalled)
        return True

    def remove(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signum)

    def request(self, signum: int = signal.SIGTERM) -> None:
        if self.requested.is_set():
            self.hurried.set()
            return
        # Nothing is logged here: a signal handler may run in the middle of a log write.
        self.signal = signum
        self.requested.set()

    @property
    def exit_status(self) -> int | None:
        """128 + the signal's number once stopped by one (the shell's convention)."""
        return None if self.signal is None else 128 + self.signal
