"""Running your code (an agent's hooks and tools) so that whatever it does, the call goes on.

Sync code runs in a daemon thread of its own, so that it cannot block the event loop; async
code runs in a task of its own on the loop, each of its steps timed. Either way the caller
waits at most the deadline: at the deadline the code is cancelled (a thread cannot be) and
*abandoned*, not waited for, so that code which ignores cancellation holds neither the turn
nor the process's shutdown. Everything it raises but cancellation (``SystemExit`` and
``KeyboardInterrupt`` included) is caught and logged with its type and where it was raised (its
message may carry anything, so never that). An async step that holds the loop longer than
:data:`STALL_S` (``time.sleep`` in an ``async def``) froze every call of the process: it cannot
be stopped, but it is named in the log and its outcome is ``stalled``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
import traceback
import types
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from voicefsm import livekit_compat
from voicefsm.logs import Log

#: One step of async user code holding the loop this long is a stall (every call froze).
STALL_S = 0.5

Outcome = Literal["ok", "failed", "timeout", "stalled"]


@dataclass(frozen=True, slots=True)
class Ran:
    """How one run of user code ended: its outcome, and its value or what it raised."""

    outcome: Outcome
    value: object = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class UserCode:
    """Which code runs (for the log: ``kind`` "hook" or "tool", and its name)."""

    kind: str
    name: str
    log: Log
    #: Errors handed back without a log line (the caller reports them: a tool's exceptions).
    passed_on: tuple[type[BaseException], ...] = ()

    @property
    def extra(self) -> dict[str, object]:
        return {self.kind: self.name}  # {"hook": "file_the_call"}, {"tool": "lookup"}

    def failed(self, error: BaseException) -> None:
        if isinstance(error, self.passed_on):
            return
        self.log.error(
            "agent code raised; contained, the call goes on",
            extra=self.extra | {"error_type": type(error).__name__, "where": _where(error)},
        )


async def run_contained(
    code: UserCode, call: Callable[[], object], *, is_async: bool, deadline_s: float
) -> Ran:
    """Run ``call`` (an async function's call when ``is_async``) contained, under
    ``deadline_s``. Raises only ``CancelledError``, when the caller itself is cancelled (the
    code is then cancelled too, and not waited for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    if not is_async:
        ran = await _in_thread(code, call, deadline_s)
        if ran.outcome != "ok" or not inspect.isawaitable(ran.value):
            return ran
        awaitable = ran.value  # a plain def that returned an awaitable: await it on the loop
    else:
        try:
            awaitable = call()  # type: ignore[assignment]
        except BaseException as exc:  # user code: everything is contained
            code.failed(exc)
            return Ran("failed", error=exc)
    return await _in_task(code, awaitable, max(0.0, deadline - loop.time()))


async def _in_task(code: UserCode, awaitable: Awaitable[object], deadline_s: float) -> Ran:
    clock = _StepClock(code)
    task = asyncio.get_running_loop().create_task(
        _guarded(awaitable, clock), name=f"voicefsm-{code.kind}-{code.name}"
    )
    livekit_compat.inherit_activity(task)
    try:
        await asyncio.wait({task}, timeout=deadline_s)
    except asyncio.CancelledError:
        _abandon(code, task, why="cancelled")
        raise
    if not task.done():
        _abandon(code, task, why="deadline")
        return Ran("timeout")
    if task.cancelled():
        raise asyncio.CancelledError  # the code cancelled itself: that is cancellation
    value, error = task.result()
    if error is not None:
        code.failed(error)
        return Ran("failed", error=error)
    return Ran("stalled" if clock.stalled else "ok", value)


async def _guarded(
    awaitable: Awaitable[object], clock: _StepClock
) -> tuple[object, BaseException | None]:
    """The task's body: ``SystemExit`` or ``KeyboardInterrupt`` escaping a task would stop the
    whole event loop, so everything but cancellation is caught here, inside the task."""
    try:
        return await _clocked(awaitable, clock), None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # user code: everything is contained
        return None, exc


@types.coroutine
def _clocked(awaitable: Awaitable[object], clock: _StepClock) -> Generator[Any, Any, object]:
    """``await awaitable``, timing each step it runs on the loop (what ``yield from`` does,
    with a clock around each ``send``)."""
    steps = awaitable.__await__()
    to_send: object = None
    to_throw: BaseException | None = None
    while True:
        started = time.perf_counter()
        try:
            yielded = steps.send(to_send) if to_throw is None else steps.throw(to_throw)
        except StopIteration as stop:
            clock.step(time.perf_counter() - started)
            return stop.value
        finally:
            to_send, to_throw = None, None
        clock.step(time.perf_counter() - started)
        try:
            to_send = yield yielded
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # handed on to the code, as yield from does
            to_throw = exc


class _StepClock:
    """The longest an async run held the loop in one step; a stall is logged as it ends."""

    def __init__(self, code: UserCode) -> None:
        self._code = code
        self.stalled = False

    def step(self, seconds: float) -> None:
        if seconds >= STALL_S:
            self.stalled = True
            self._code.log.error(
                "agent code blocked the event loop; every call of this process froze meanwhile",
                extra=self._code.extra | {"blocked_s": round(seconds, 3)},
            )


def _abandon(code: UserCode, task: asyncio.Task[Any], *, why: str) -> None:
    """Cancel ``task`` and stop waiting for it. Code that ignores cancellation keeps running:
    it is taken off the loop's task list, so that a shutdown (livekit's job process, asyncio's
    runner) does not wait for it either."""
    task.cancel()
    if why == "deadline":
        code.log.warning("agent code ran past its deadline; abandoned", extra=code.extra)
    unregister: Callable[[asyncio.Task[Any]], None] | None = getattr(
        asyncio.tasks, "_unregister_task", None
    )
    if unregister is not None:
        unregister(task)
        task._log_destroy_pending = False  # type: ignore[attr-defined]  # (its own log above)
    task.add_done_callback(lambda _: _straggler_ended(code, why))


def _straggler_ended(code: UserCode, why: str) -> None:
    code.log.info("abandoned agent code ended", extra=code.extra | {"abandoned_at": why})


async def _in_thread(code: UserCode, call: Callable[[], object], deadline_s: float) -> Ran:
    """Run sync code in a daemon thread (with the caller's context variables), so that code
    that never returns holds neither the loop nor the process's exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[object, BaseException | None]] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: tuple[object, BaseException | None]) -> None:
        if not done.done():
            done.set_result(result)

    def target() -> None:
        result: tuple[object, BaseException | None]
        try:
            result = context.run(call), None
        except BaseException as exc:  # user code: everything is contained
            result = None, exc
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:  # abandoned code that ended after its session's loop closed
            return

    thread = threading.Thread(target=target, name=f"voicefsm-{code.kind}-{code.name}", daemon=True)
    thread.start()
    try:
        await asyncio.wait({done}, timeout=deadline_s)
    except asyncio.CancelledError:
        done.cancel()
        raise
    if not done.done():
        done.cancel()
        code.log.warning("agent code ran past its deadline; abandoned", extra=code.extra)
        return Ran("timeout")
    value, error = done.result()
    if error is not None:
        code.failed(error)
        return Ran("failed", error=error)
    return Ran("ok", value)


def _where(error: BaseException) -> str:
    """Where ``error`` was raised (file:line of its innermost frame): the cause, without the
    message."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"
