"""Tool calls inside the lifecycle, using livekit's own tool execution.

livekit runs a reply's tools and answers them on the same speech; it reports each call
(``tool_execution_updated``: started, ended) and each batch (``function_tools_executed``: the
outputs, whether a reply is wanted). :class:`ToolWatch` turns that into ``ToolStarted`` and
``ToolFinished`` (internal transitions of ``listening``/``thinking``/``speaking``: on the
timeline, each finished call recorded through the outbox), and keeps the reply's deadlines
right: a slow tool is not a hung provider, so the reply-start deadline waits while tools run
and starts again for the answer to them. A tool running past ``tool_filler_after_s`` gets the
agent's filler ("One moment, please.").

Tools have deadlines of their own, and run contained: :mod:`.tool_deadlines`; the watch is
where they report (:class:`~.tool_deadlines.ToolReports`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from livekit.agents import (
    AgentSession,
    FunctionToolsExecutedEvent,
    ToolCallEnded,
    ToolCallStarted,
    ToolExecutionUpdatedEvent,
    llm,
)
from livekit.agents.voice import SpeechHandle

from voicefsm import livekit_compat
from voicefsm.lifecycle import Lifecycle, ToolCall, ToolFinished, ToolOutcome, ToolStarted
from voicefsm.logs import Log

_LOG = logging.getLogger("voicefsm.agent")


class ToolReplies(Protocol):
    """The replies whose tools the watch follows (implemented by
    :class:`~voicefsm.engine.pipeline.Pipeline`)."""

    def unfinished_speech(self) -> SpeechHandle | None:
        """The greeting or reply still being generated or played (the one calling tools)."""

    def tools_started(self, handle: SpeechHandle) -> None:
        """The reply waits on tools: waiting on a tool is not a hung provider."""

    def tools_finished(self, handle: SpeechHandle, reply_wanted: bool) -> None:
        """The reply's tools are done; ``reply_wanted``: the model answers them."""

    def say_filler(self) -> None:
        """A tool is taking a while: a word to the caller."""


@dataclass
class _Running:
    name: str
    arguments: str
    turn: int
    started: float
    speech: SpeechHandle | None
    ended: float | None = None
    status: str = "done"


@dataclass
class _Batch:
    """The tools one speech is running, and the filler said for them (at most one)."""

    open: set[str] = field(default_factory=set)
    filler: asyncio.TimerHandle | None = None


class ToolWatch:
    """Subscribes to a session's tool events and reports them to the lifecycle."""

    def __init__(
        self,
        agent_session: AgentSession[Any],
        lifecycle: Lifecycle,
        replies: ToolReplies,
        *,
        filler_after_s: float,
        log: Log = _LOG,
    ) -> None:
        #: Where contained tool code logs (the session's log).
        self.log = log
        self._lifecycle = lifecycle
        self._replies = replies
        self._filler_after_s = filler_after_s
        self._running: dict[str, _Running] = {}
        self._batches: dict[str, _Batch] = {}  # by speech id
        self._timed_out: dict[str, int] = {}  # tool name -> timeouts not yet matched to a call
        self._stalled: dict[str, int] = {}  # tool name -> stalls not yet matched to a call
        self._listeners: list[Callable[[ToolCall], None]] = []
        listener = livekit_compat.event_listener
        agent_session.on("tool_execution_updated", listener(self._updated))
        agent_session.on("function_tools_executed", listener(self._executed))

    def subscribe(self, listener: Callable[[ToolCall], None]) -> None:
        """Call ``listener`` with each finished tool call (spans, metrics)."""
        self._listeners.append(listener)

    def timed_out(self, name: str) -> None:
        """A tool's deadline wrapper stopped it (the next error of that tool is a timeout)."""
        self._timed_out[name] = self._timed_out.get(name, 0) + 1

    def stalled(self, name: str) -> None:
        """A tool blocked the loop (its next result is recorded ``stalled``, not ``ok``)."""
        self._stalled[name] = self._stalled.get(name, 0) + 1

    def _updated(self, event: ToolExecutionUpdatedEvent) -> None:
        update = event.update
        if isinstance(update, ToolCallStarted):
            self._started(update.function_call)
        elif isinstance(update, ToolCallEnded):
            running = self._running.get(update.call_id)
            if running is not None:
                running.ended, running.status = _now(), update.status

    def _started(self, call: llm.FunctionCall) -> None:
        speech = self._replies.unfinished_speech()
        self._running[call.call_id] = _Running(
            call.name, call.arguments, self._lifecycle.turn, _now(), speech
        )
        if speech is not None:
            self._replies.tools_started(speech)  # waiting on a tool is not a hung provider
            batch = self._batches.setdefault(speech.id, _Batch())
            batch.open.add(call.call_id)
            if batch.filler is None and self._filler_after_s > 0:
                loop = asyncio.get_running_loop()
                batch.filler = loop.call_later(self._filler_after_s, self._filler, batch)
        self._lifecycle.fire(ToolStarted(call.name, call.call_id))

    def _filler(self, batch: _Batch) -> None:
        if batch.open:
            self._replies.say_filler()

    def _executed(self, event: FunctionToolsExecutedEvent) -> None:
        speech: SpeechHandle | None = None
        for call, output in zip(event.function_calls, event.function_call_outputs, strict=False):
            running = self._running.pop(call.call_id, None)
            speech = speech or (running.speech if running is not None else None)
            finished = self._finished(call, output, running)
            for listener in self._listeners:
                listener(finished)
            self._lifecycle.fire(ToolFinished(finished))
        if speech is None:
            return
        batch = self._batches.pop(speech.id, None)
        if batch is not None and batch.filler is not None:
            batch.filler.cancel()
        self._replies.tools_finished(speech, event.has_tool_reply)

    def _finished(
        self,
        call: llm.FunctionCall,
        output: llm.FunctionCallOutput | None,
        running: _Running | None,
    ) -> ToolCall:
        now = _now()
        started = running.started if running is not None else now
        ended = running.ended if running is not None and running.ended is not None else now
        result = output.output if output is not None else ""
        speech = running.speech if running is not None else None
        interrupted = bool(speech is not None and speech.interrupted)
        if running is not None and running.status == "cancelled":
            outcome = ToolOutcome.CANCELLED
        elif output is not None and output.is_error:
            outcome = ToolOutcome.ERROR
            if self._timed_out.get(call.name):
                self._timed_out[call.name] -= 1
                outcome = ToolOutcome.TIMEOUT
        elif self._stalled.get(call.name):
            self._stalled[call.name] -= 1
            outcome = ToolOutcome.STALLED
        elif output is not None and not output.reply_required and not interrupted:
            # (livekit also drops the reply of a tool whose speech was interrupted: that is the
            # barge-in, not the tool asking for silence.)
            outcome = ToolOutcome.NO_REPLY
        else:
            outcome = ToolOutcome.OK
        return ToolCall(
            call_id=call.call_id,
            name=call.name,
            turn=running.turn if running is not None else self._lifecycle.turn,
            arguments=call.arguments,
            result=result,
            outcome=outcome,
            duration_s=max(0.0, ended - started),
            interrupted=interrupted,
        )


def _now() -> float:
    return asyncio.get_running_loop().time()
