"""Helpers for testing lifecycles and agents in isolation: no audio, no network, no event loop.

* :class:`RecordingEffects` records what the machine asks for, to test transitions.
* :class:`FlowHarness` walks a conversation flow, and :func:`edge_cases` gives data to test
  each of its edges both ways (see :mod:`voicefsm.flows.harness`).
* :class:`AgentHarness` runs an agent's lifecycle hooks on the transitions you fire, and keeps
  what they wrote::

      harness = AgentHarness(BistroAgent())
      harness.walk(Joined(), Resumed(), UserTurnCompleted("Hi"), HangUp())
      assert harness.writes == [
          ("call_note", {"caller_turns": 1, "ended_by": "hang_up", "bookings": 0})
      ]
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from voicefsm.flows.harness import FlowHarness
from voicefsm.flows.samples import EdgeCase, edge_cases
from voicefsm.lifecycle.effects import Utterance
from voicefsm.lifecycle.machine import Lifecycle, Outcome
from voicefsm.lifecycle.states import EndReason
from voicefsm.lifecycle.timeline import TimelineEntry
from voicefsm.lifecycle.triggers import HandedOff, ToolCall, TriggerData, UserTurnCompleted

if TYPE_CHECKING:
    from pydantic import JsonValue

    from voicefsm.backend.fields import EventData
    from voicefsm.context import ParticipantMetadata
    from voicefsm.engine.session_record import SessionRecord


class EffectCall(NamedTuple):
    """One call the machine made on its effects."""

    name: str
    args: tuple[object, ...]


class NullEffects:
    """An :class:`~voicefsm.lifecycle.Effects` that does nothing: for timing the machine alone,
    or as a base for effects that implement only a few methods."""

    def load_context(self) -> None: ...
    def start_greeting(self, turn: int) -> None: ...
    def listen(self, turn: int) -> None: ...
    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None: ...
    def interrupt(self, turn: int) -> None: ...
    def apologise(self, turn: int) -> None: ...
    def record(self, utterance: Utterance) -> None: ...
    def record_tool(self, call: ToolCall) -> None: ...
    def record_handoff(self, handoff: HandedOff) -> None: ...
    def say_farewell(self) -> None: ...
    def flush(self, reason: EndReason) -> None: ...
    def shut_down(self, reason: EndReason) -> None: ...


class InjectedEffectError(RuntimeError):
    """Raised by :class:`RecordingEffects` for the effects it was told to fail."""


class RecordingEffects:
    """An :class:`~voicefsm.lifecycle.Effects` that records every call in order.

    ``fail`` names effects that raise :class:`InjectedEffectError` once recorded, to exercise the
    machine's containment of broken effects.
    """

    def __init__(self, *, fail: frozenset[str] = frozenset()) -> None:
        self.calls: list[EffectCall] = []
        self.fail = fail

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def history(self) -> list[Utterance]:
        """Every utterance recorded, in order."""
        return [arg for call in self.calls if call.name == "record" for arg in call.args]  # type: ignore[misc]

    def _call(self, name: str, *args: object) -> None:
        self.calls.append(EffectCall(name, args))
        if name in self.fail:
            msg = f"{name} failed on purpose"
            raise InjectedEffectError(msg)

    def load_context(self) -> None:
        self._call("load_context")

    def start_greeting(self, turn: int) -> None:
        self._call("start_greeting", turn)

    def listen(self, turn: int) -> None:
        self._call("listen", turn)

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        self._call("start_reply", turn, request, attempt)

    def interrupt(self, turn: int) -> None:
        self._call("interrupt", turn)

    def apologise(self, turn: int) -> None:
        self._call("apologise", turn)

    def record(self, utterance: Utterance) -> None:
        self._call("record", utterance)

    def record_tool(self, call: ToolCall) -> None:
        self._call("record_tool", call)

    def record_handoff(self, handoff: HandedOff) -> None:
        self._call("record_handoff", handoff)

    def say_farewell(self) -> None:
        self._call("say_farewell")

    def flush(self, reason: EndReason) -> None:
        self._call("flush", reason)

    def shut_down(self, reason: EndReason) -> None:
        self._call("shut_down", reason)


class _RecordingInto(RecordingEffects):
    """Recording effects that also keep the session record a hook reads."""

    def __init__(self, record: SessionRecord) -> None:
        super().__init__()
        self.session_record = record

    def record(self, utterance: Utterance) -> None:
        super().record(utterance)
        self.session_record.append(utterance)


class HookRun(NamedTuple):
    """One hook run: the method's name, and "ok", "failed" or "timeout"."""

    hook: str
    outcome: str


class AgentHarness:
    """An agent's hooks run on the lifecycle transitions you fire, one after the other, each to
    its end or to ``hook_deadline_s`` (then its outcome is "timeout"), exactly as a session
    would pick them. Each hook runs in a thread of its own (an async one on that thread's own
    event loop), so the harness works the same from a plain test and from an async one."""

    def __init__(
        self,
        agent: object,
        *,
        participant: ParticipantMetadata | None = None,
        session_id: str = "s_test",
        conversation_id: str = "c_test",
        hook_deadline_s: float = 2.0,
    ) -> None:
        from voicefsm.agent.hooks import hooks_in_charge  # noqa: PLC0415 (livekit is in)
        from voicefsm.agent.shared_state import make_userdata  # noqa: PLC0415
        from voicefsm.context import ParticipantMetadata  # noqa: PLC0415
        from voicefsm.engine.session_record import SessionRecord  # noqa: PLC0415
        from voicefsm.ids import ConversationId, SessionId  # noqa: PLC0415

        self.record = SessionRecord(SessionId(session_id), ConversationId(conversation_id))
        self.effects = _RecordingInto(self.record)
        self.lifecycle = Lifecycle(self.effects)
        self.participant = participant or ParticipantMetadata()
        self._first = agent
        #: The call's shared state, made as a session makes it (None without one).
        self.userdata = make_userdata(agent)
        #: The hooks that run now: the first agent's (the session's), and after
        #: :meth:`hand_off` the agent in charge's, as a session runs them.
        self.hooks = hooks_in_charge(agent, agent)
        #: Every application event the hooks wrote, as (name, data).
        self.writes: list[tuple[str, JsonValue]] = []
        self.runs: list[HookRun] = []
        self.hook_deadline_s = hook_deadline_s
        self.lifecycle.subscribe(self._transition)

    def fire(self, data: TriggerData) -> Outcome:
        """Fire one trigger; the hooks it runs have finished when this returns."""
        return self.lifecycle.fire(data)

    def hand_off(self, agent: object) -> Outcome:
        """Hand the call to ``agent``, as a tool returning it does: from now on its hooks run
        beside the first agent's (which run for the whole call), and ``handed_off`` is fired."""
        from voicefsm.agent.hooks import hooks_in_charge  # noqa: PLC0415

        self.hooks = hooks_in_charge(self._first, agent)
        return self.fire(HandedOff(_agent_name(self._first), _agent_name(agent)))

    def walk(self, *steps: TriggerData) -> list[Outcome]:
        """Fire each trigger in turn."""
        return [self.fire(step) for step in steps]

    def _write(self, name: str, data: EventData) -> None:
        from voicefsm.backend.models import validated_app_event  # noqa: PLC0415

        event = validated_app_event(name, data)
        self.writes.append((name, event.data))

    def _transition(self, entry: TimelineEntry) -> None:
        from voicefsm.agent.hooks import HookContext  # noqa: PLC0415
        from voicefsm.engine.hook_runner import due_hooks  # noqa: PLC0415

        for hook in due_hooks(self.hooks, entry):
            context = HookContext(
                session_id=self.record.session_id,
                conversation_id=self.record.conversation_id,
                entry=entry,
                participant=self.participant,
                history=tuple(self.record.history),
                timeline=tuple(self.lifecycle.timeline),
                _write=self._write,
                userdata=self.userdata,
            )
            outcome = _run_to_end(partial(hook.call, context), self.hook_deadline_s)
            self.runs.append(HookRun(hook.name, outcome))


def _agent_name(agent: object) -> str:
    # livekit's own name for an agent (its id), as a session's handed_off entry shows it.
    return str(getattr(agent, "id", type(agent).__name__))


def _run_to_end(call: Callable[[], object], deadline_s: float) -> str:
    """Run one hook in a thread of its own: "ok", "failed", or "timeout" (a hook still running
    at the deadline is left behind, as a session leaves it)."""
    outcome = ["timeout"]

    def target() -> None:
        try:
            result = call()
            if inspect.isawaitable(result):
                asyncio.run(asyncio.wait_for(_awaited(result), deadline_s))
        except TimeoutError:
            outcome[0] = "timeout"
        except BaseException:  # SystemExit too: a session contains it, so does the harness
            outcome[0] = "failed"
        else:
            outcome[0] = "ok"

    thread = threading.Thread(target=target, name="voicefsm-test-hook", daemon=True)
    thread.start()
    thread.join(deadline_s + 1.0)
    return "timeout" if thread.is_alive() else outcome[0]


async def _awaited(awaitable: Any) -> None:  # noqa: ANN401 (whatever the hook returned)
    await awaitable


__all__ = [
    "AgentHarness",
    "EdgeCase",
    "EffectCall",
    "FlowHarness",
    "HookRun",
    "InjectedEffectError",
    "NullEffects",
    "RecordingEffects",
    "edge_cases",
]
