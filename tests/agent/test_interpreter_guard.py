"""The 3.11 ``sys._current_frames()`` guard: no garbage collection (so no ``gc.callbacks`` code,
so no GIL hand-off under the runtime's head lock) can start inside the call."""

from __future__ import annotations

import gc
import linecache
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from voicefsm.worker import interpreter_guard
from voicefsm.worker.interpreter_guard import install_interpreter_guard, needs_guard

pytestmark = pytest.mark.skipif(
    not needs_guard(), reason="collections start only at safe points on this interpreter"
)


@pytest.fixture
def busy_threads() -> Iterator[None]:
    """Threads to report on: each reported thread costs ``_current_frames`` allocations."""
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(24)]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join()


@pytest.fixture
def collector_on_every_allocation() -> Iterator[None]:
    thresholds = gc.get_threshold()
    enabled = gc.isenabled()
    gc.enable()
    gc.set_threshold(1)
    yield
    gc.set_threshold(*thresholds)
    if not enabled:
        gc.disable()


def collections_during(
    call: Callable[[], object], *, inner: Callable[..., object], line: str
) -> int:
    """Run ``call`` 50 times; count the collections that started while the Python function
    ``inner`` stood on its source line containing ``line`` (i.e. inside the C call made there:
    the collector's callbacks run with that frame as their caller)."""
    inside = 0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal inside
        caller = sys._getframe(1)
        if phase == "start" and caller.f_code is inner.__code__:
            source = linecache.getline(caller.f_code.co_filename, caller.f_lineno)
            inside += line in source

    gc.callbacks.append(on_gc)
    try:
        for _ in range(50):
            call()
    finally:
        gc.callbacks.remove(on_gc)
    return inside


@pytest.mark.usefixtures("busy_threads", "collector_on_every_allocation")
def test_the_unguarded_call_starts_collections_inside_it() -> None:
    """Positive control: without the guard the detector does see collections in the call."""
    original = getattr(sys._current_frames, "__voicefsm_guarded__", sys._current_frames)

    def unguarded() -> object:
        return original()

    assert collections_during(unguarded, inner=unguarded, line="original()") > 0


@pytest.mark.usefixtures("busy_threads", "collector_on_every_allocation")
def test_the_guarded_call_starts_none() -> None:
    install_interpreter_guard()
    assert hasattr(sys._current_frames, "__voicefsm_guarded__")
    guarded = sys._current_frames
    assert collections_during(guarded, inner=guarded, line="original()") == 0
    assert gc.isenabled(), "the collector is back on after the call"


def test_install_is_idempotent_and_keeps_a_disabled_collector_disabled() -> None:
    install_interpreter_guard()
    guarded = sys._current_frames
    install_interpreter_guard()
    assert sys._current_frames is guarded
    gc.disable()
    try:
        frames = sys._current_frames()
        assert threading.get_ident() in frames
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_only_3_11_needs_it() -> None:
    assert interpreter_guard.needs_guard((3, 11))
    assert not interpreter_guard.needs_guard((3, 12))
    assert not interpreter_guard.needs_guard((3, 13))
