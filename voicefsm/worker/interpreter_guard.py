"""Guard against CPython 3.11's ``sys._current_frames()`` deadlock (python/cpython#106883).

On 3.11, ``sys._current_frames()`` walks the thread list under the runtime's head lock and
allocates a frame object per thread. An allocation can start a garbage collection, which runs
the Python callbacks in ``gc.callbacks``, which can give up the GIL while the head lock is still
held. If another thread then takes the GIL and calls ``sys._current_frames()`` too, it waits for
the head lock while holding the GIL: the whole process stops for good.

livekit-agents hits exactly this: every job's event-loop monitor registers a ``gc.callbacks``
entry and calls ``sys._current_frames()`` from a watchdog thread when the loop lags. Under load
(many jobs in one process, lagging loops) a session process froze with the spool's write lock
held, and every other process sharing the spool stalled behind it.

CPython's fix (in 3.11.9 and 3.12+, where collections only start at safe points) disables the
collector for the duration of the call; this module applies the same fix from Python on 3.11.
On a 3.11 that already has the fix it only adds an uncontended lock per call.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from typing import Any

_GUARDED = ("_current_frames", "_current_exceptions")
_MARK = "__voicefsm_guarded__"
#: Serialises guarded calls so that one call cannot re-enable the collector under another.
_CALLS = threading.Lock()


def _guard(original: Callable[[], dict[int, Any]]) -> Callable[[], dict[int, Any]]:
    def guarded() -> dict[int, Any]:
        with _CALLS:
            enabled = gc.isenabled()
            gc.disable()
            try:
                return original()
            finally:
                if enabled:  # leave a collector the application disabled as it was
                    gc.enable()

    setattr(guarded, _MARK, original)
    guarded.__name__ = original.__name__
    guarded.__doc__ = original.__doc__
    return guarded


def needs_guard(version: tuple[int, int] = sys.version_info[:2]) -> bool:
    """True on interpreters where a collection can start inside ``sys._current_frames()``."""
    return version == (3, 11)


def install_interpreter_guard() -> bool:
    """Apply the guard to ``sys`` once per process (no-op where it is not needed).

    Returns True if the guard is in place after the call.
    """
    if not needs_guard():
        return False
    for name in _GUARDED:
        current = getattr(sys, name, None)
        if current is not None and not hasattr(current, _MARK):
            setattr(sys, name, _guard(current))
    return True
