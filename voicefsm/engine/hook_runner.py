"""Running an agent's lifecycle hooks (:mod:`voicefsm.agent.hooks`) off the voice path.

On each transition the runner takes a snapshot for the matching hooks and starts each in a task:
an async hook under ``hook_deadline_s``, a sync one in a daemon thread of its own (a hook that
never returns is left behind, never waited for). Whatever a hook does (raise, hang, write
nonsense) is logged with a static message, counted by outcome, and the call goes on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

from voicefsm.agent.hooks import Hook, HookContext, HookPoint, hooks_in_charge
from voicefsm.engine.participants import CallerContext
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import TRANSITIONS, Lifecycle, TimelineEntry
from voicefsm.logs import Log

#: Told each hook run: (hook name, "ok" | "failed" | "timeout").
HookOutcome = Callable[[str, str], None]

#: (state, trigger) pairs whose edge re-enters the state (exit and enter run). Any other
#: transition that ends where it began is internal: no state is left or entered.
_REENTERING = frozenset(
    (edge.source, edge.trigger) for edge in TRANSITIONS if edge.dest is edge.source
)


def is_internal(entry: TimelineEntry) -> bool:
    return entry.source is entry.dest and (entry.source, entry.trigger) not in _REENTERING


def due_hooks(hooks: Sequence[Hook], entry: TimelineEntry) -> list[Hook]:
    """The hooks ``entry`` runs, in order: on leaving a state, on the trigger, on entering."""
    due = [(order, hook) for hook in hooks if (order := _matches(hook, entry)) is not None]
    return [hook for _, hook in sorted(due, key=lambda item: item[0])]


def _matches(hook: Hook, entry: TimelineEntry) -> int | None:
    """The order a hook runs in for ``entry`` (exit, transition, enter), or None."""
    spec, internal = hook.spec, is_internal(entry)
    if spec.point is HookPoint.EXIT and spec.on is entry.source and not internal:
        return 0
    if spec.point is HookPoint.TRANSITION and spec.on is entry.trigger:
        return 1
    if spec.point is HookPoint.ENTER and spec.on is entry.dest and not internal:
        return 2
    return None


class HookRunner:
    """Subscribes to ``lifecycle`` and runs the hooks of the agent in charge."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        writes: SessionWrites,
        caller: CallerContext,
        deadline_s: float,
        log: Log,
        userdata: Callable[[], object] | None = None,
    ) -> None:
        self._lifecycle = lifecycle
        self._userdata = userdata or _no_userdata
        self._record = writes.record
        self._writes = writes
        self._caller = caller
        self._deadline_s = deadline_s
        self._log = log
        self._hooks: Sequence[Hook] = ()
        self._first: object | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._outcome_listeners: list[HookOutcome] = []
        lifecycle.subscribe(self._transition)

    def subscribe_outcomes(self, listener: HookOutcome) -> None:
        """Call ``listener`` with each hook run's name and outcome (the metrics count them)."""
        self._outcome_listeners.append(listener)

    def use(self, agent: object) -> None:
        """``agent`` is in charge from now on (the first agent, then each one handed off to):
        its hooks run, beside the first agent's, which are the session's."""
        if self._first is None:
            self._first = agent
        self._hooks = hooks_in_charge(self._first, agent)

    async def drain(self) -> None:
        """Wait for the hooks still running (each is bounded by the deadline)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=self._deadline_s + 0.5)

    def _transition(self, entry: TimelineEntry) -> None:
        due = due_hooks(self._hooks, entry)
        if not due:
            return
        context = HookContext(
            session_id=self._record.session_id,
            conversation_id=self._record.conversation_id,
            entry=entry,
            participant=self._caller.participant,
            history=tuple(self._record.history),
            timeline=tuple(self._lifecycle.timeline),
            _write=self._writes.app_event_from_any_thread,
            userdata=self._userdata(),
        )
        loop = asyncio.get_running_loop()
        for hook in due:
            task = loop.create_task(self._run(hook, context), name=f"voicefsm-hook-{hook.name}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, hook: Hook, context: HookContext) -> None:
        extra = {"hook": hook.name, "at": hook.spec.label}
        try:
            if hook.is_async:
                async with asyncio.timeout(self._deadline_s):
                    await hook.call(context)  # type: ignore[misc]
            else:
                await asyncio.wait_for(_in_thread(hook, context), self._deadline_s)
        except TimeoutError:
            self._log.warning("agent hook timed out; the call goes on", extra=extra)
            self._count(hook, "timeout")
        except Exception as exc:
            # The exception's message may carry anything: log its type only.
            self._log.error(
                "agent hook failed; the call goes on",
                extra=extra | {"error_type": type(exc).__name__},
            )
            self._count(hook, "failed")
        else:
            self._count(hook, "ok")

    def _count(self, hook: Hook, outcome: str) -> None:
        self._record.counters.hooks[outcome] += 1
        for listener in self._outcome_listeners:
            listener(hook.name, outcome)


def _no_userdata() -> object:
    return None


async def _in_thread(hook: Hook, context: HookContext) -> None:
    """Run a sync hook in a daemon thread, so that one that never returns cannot hold up the
    loop, the call or the process's exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        try:
            hook.call(context)
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # a hook given up on finished after its session's loop closed
            return

    threading.Thread(target=target, name=f"voicefsm-hook-{hook.name}", daemon=True).start()
    await done
