"""What the engine's parts talk to, faked for unit tests: no audio, no providers, no livekit
``AgentSession``.

:class:`FakeAgentSession` is livekit's own ``rtc.EventEmitter`` (which ``AgentSession``
extends) with the few calls the engine makes; its speeches are livekit's real ``SpeechHandle``s,
finished the way livekit finishes them (:func:`finish`). :class:`FakeOutbox` takes what the
session writes (the ``EventOutbox`` interface). The lifecycle is the real one, on recording
effects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit import rtc
from livekit.agents import llm
from livekit.agents.voice import SpeechHandle
from livekit.agents.voice.io import AgentInput

from voicefsm.backend.models import Event, SessionSummary
from voicefsm.engine.session_record import SessionRecord
from voicefsm.engine.writes import SessionWrites
from voicefsm.errors import OutboxError
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import Lifecycle
from voicefsm.testing import RecordingEffects

LOG = logging.getLogger("voicefsm.test")


class FakeAgentSession(rtc.EventEmitter[Any]):
    """livekit's ``AgentSession`` as the engine's parts use it: ``say``, ``generate_reply``,
    ``interrupt``, ``history``, ``current_speech``, and its events (``emit`` them)."""

    def __init__(self) -> None:
        super().__init__()
        self.history = llm.ChatContext()
        self.current_speech: SpeechHandle | None = None
        self.current_agent: Any = None
        self.tools: list[Any] = []
        self.said: list[tuple[str, SpeechHandle, dict[str, Any]]] = []
        self.replies: list[tuple[dict[str, Any], SpeechHandle]] = []
        self.interrupts: list[bool] = []
        self.closing = False
        self.closed = False
        #: livekit's own input: what the engine does to the caller's audio is real.
        self.input = AgentInput(video_changed=lambda: None, audio_changed=lambda: None)

    def say(self, text: str, **options: Any) -> SpeechHandle:
        if self.closing:
            msg = "AgentSession is closing, cannot use say()"
            raise RuntimeError(msg)
        handle = SpeechHandle.create(allow_interruptions=options.get("allow_interruptions", True))
        self.said.append((text, handle, options))
        return handle

    def generate_reply(self, **options: Any) -> SpeechHandle:
        handle = SpeechHandle.create()
        self.replies.append((options, handle))
        return handle

    def interrupt(self, *, force: bool = False) -> asyncio.Future[None]:
        self.interrupts.append(force)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def _is_closing(self) -> bool:  # what voicefsm.livekit_compat.session_is_closing reads
        return self.closing

    async def aclose(self) -> None:
        self.closing = True
        self.closed = True


def finish(
    handle: SpeechHandle,
    said: str = "",
    *,
    interrupted: bool = False,
    error: BaseException | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    """End a speech as livekit does: the assistant message it produced (truncated to what was
    heard when interrupted), then done."""
    if said:
        message = llm.ChatMessage(role="assistant", content=[said], interrupted=interrupted)
        if metrics:
            message.metrics.update(metrics)  # type: ignore[typeddict-item]
        handle._item_added([message])
    if interrupted:
        handle._cancel()
    handle._mark_done(error)


async def settle() -> None:
    """Let the loop run what is due now (livekit calls a handle's done callbacks soon, not at
    once)."""
    for _ in range(5):
        await asyncio.sleep(0)


class FakeOutbox:
    """Takes the session's writes in order (``EventOutbox``) and flushes at once; ``refuse``
    makes it refuse."""

    def __init__(self) -> None:
        self.events: list[tuple[ConversationId, Event]] = []
        self.summaries: list[SessionSummary] = []
        self.refuse: OutboxError | None = None
        self.flushed: float | None = None
        self.claimed: ConversationId | None = None

    def submit_event(self, conversation_id: ConversationId, event: Event) -> None:
        self._check()
        self.events.append((conversation_id, event))

    def submit_built(self, conversation_id: ConversationId, key: str, build: Any) -> None:
        self._check()
        event = build()  # the writer thread's job, done here at once
        assert event.idempotency_key == key
        self.events.append((conversation_id, event))

    def submit_session(self, summary: SessionSummary) -> None:
        self._check()
        self.summaries.append(summary)

    def claim(self, conversation_id: ConversationId) -> None:
        self.claimed = conversation_id

    async def flush(self, deadline_s: float) -> int:
        """Everything taken is delivered at once: nothing stays pending."""
        self.flushed = deadline_s
        return 0

    def undelivered(self) -> int:
        return 0

    def kinds(self) -> list[str]:
        return [event.kind for _, event in self.events]

    def _check(self) -> None:
        if self.refuse is not None:
            raise self.refuse


def session_writes(outbox: FakeOutbox | None = None) -> SessionWrites:
    """The writes of a session ``s1`` in conversation ``c1`` (made on the running loop)."""
    record = SessionRecord(SessionId("s1"), ConversationId("c1"))
    return SessionWrites(record, outbox or FakeOutbox(), LOG)


def lifecycle() -> tuple[Lifecycle, RecordingEffects]:
    effects = RecordingEffects()
    return Lifecycle(effects), effects


def trail(lifecycle: Lifecycle) -> list[tuple[str, str, str]]:
    return [(e.source.value, e.trigger.value, e.dest.value) for e in lifecycle.timeline]
