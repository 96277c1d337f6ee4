"""Running an agent's lifecycle hooks (:mod:`voicefsm.agent.hooks`) off the voice path.

On each transition the runner takes a snapshot for the matching hooks and runs each contained
(:mod:`voicefsm.engine.user_code`) under ``hook_deadline_s``: an async hook in a task on the
loop, a sync one in a daemon thread of its own; one still running at the deadline is abandoned,
never waited for. Whatever a hook does (raise, ``sys.exit``, hang, ignore cancellation, block
the loop) is logged with a static message, counted by outcome, and the call goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from voicefsm.agent.hooks import Hook, HookContext, HookPoint, hooks_in_charge
from voicefsm.engine.participants import CallerContext
from voicefsm.engine.user_code import UserCode, run_contained
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import TRANSITIONS, Lifecycle, TimelineEntry
from voicefsm.logs import Log

#: Told each hook run: (hook name, "ok" | "failed" | "timeout" | "stalled").
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
        code = UserCode("hook", hook.name, self._log)
        ran = await run_contained(
            code, lambda: hook.call(context), is_async=hook.is_async, deadline_s=self._deadline_s
        )
        self._count(hook, ran.outcome)

    def _count(self, hook: Hook, outcome: str) -> None:
        self._record.counters.hooks[outcome] += 1
        for listener in self._outcome_listeners:
            listener(hook.name, outcome)


def _no_userdata() -> object:
    return None
