"""Assembling a call: one public way, used by the worker, the simulator and the tests alike.

:func:`open_session` builds the backend client and the outbox, livekit's ``AgentSession``
(configured so the lifecycle decides when to reply), the :class:`VoiceSession` around your
agent, and its observers; it starts the agent and, on the way out, makes sure the call was
persisted before the outbox and the providers close::

    async with open_session(MyAgent(), providers=providers, settings=settings,
                            session_id="call-1") as session:
        await session.finished.wait()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from livekit.agents import NOT_GIVEN, AgentSession

from voicefsm.agent.definition import VoiceAgent
from voicefsm.agent.shared_state import make_userdata
from voicefsm.backend.client import BackendClient, backend_http
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine.observers import Observers
from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.engine.thread_safe_session import ThreadSafeAgentSession
from voicefsm.persistence.outbox import Outbox
from voicefsm.providers import Providers
from voicefsm.providers.turns import merged
from voicefsm.settings import Settings

#: Connects a session's input and output (a LiveKit room, simulated devices); returns extra
#: ``AgentSession.start`` keywords.
AttachIO = Callable[[VoiceSession], Mapping[str, Any]]


def build_agent_session(
    providers: Providers, settings: Settings, *, userdata: object | None = None
) -> AgentSession[Any]:
    """The livekit session, configured for the lifecycle to decide when to reply (and safe to
    drive from a sync hook's or tool's thread); ``userdata`` is the call's shared state
    (livekit's ``RunContext[T].userdata``), if the agent has one."""
    return ThreadSafeAgentSession(
        userdata=NOT_GIVEN if userdata is None else userdata,
        stt=providers.stt or NOT_GIVEN,
        llm=providers.llm,
        tts=providers.tts or NOT_GIVEN,
        vad=providers.vad,
        turn_handling=merged(
            {
                "turn_detection": providers.turn_detection,
                "endpointing": {"min_delay": providers.min_endpointing_delay_s},
                # The lifecycle decides when to reply (StopResponse + generate_reply); a
                # preemptive reply would be an LLM call thrown away on every turn.
                "preemptive_generation": {"enabled": False},
            },
            providers.turn_handling,
        ),
        user_away_timeout=settings.silence_timeout_s,
        session_close_transcript_timeout=0.5,
        conn_options=providers.conn_options or NOT_GIVEN,
        aec_warmup_duration=NOT_GIVEN if providers.echo_cancellation_warmup else None,
    )


def _backend(settings: Settings) -> tuple[httpx.AsyncClient | None, BackendClient | None]:
    if settings.backend_url is None:
        return None, None
    http = backend_http(str(settings.backend_url))
    client = BackendClient(
        http,
        token=settings.backend_token,
        read_deadline_s=settings.backend_read_timeout_s,
        write_timeout_s=settings.backend_write_timeout_s,
    )
    return http, client


@asynccontextmanager
async def open_session(
    agent: VoiceAgent,
    *,
    providers: Providers,
    settings: Settings,
    session_id: str,
    room: RoomMetadata | None = None,
    participant: ParticipantMetadata | None = None,
    observers: Observers | None = None,
    attach_io: AttachIO | None = None,
    room_control: RoomControl | None = None,
    room_events: RoomEvents | None = None,
    caller: str | None = None,
) -> AsyncIterator[VoiceSession]:
    """A started call running ``agent``; on exit it is ended (if it has not ended), persisted
    within ``settings.shutdown_budget_s``, and everything it opened is closed.

    Without ``attach_io`` the session has no audio: a text session for ``AgentSession.run``.
    ``room_control`` changes the call's room (hanging up, its metadata); none by default.
    ``room_events`` (livekit's ``rtc.Room``, a simulated room) are followed for the room's
    participants; ``caller`` is the identity of the one the session is linked to.
    """
    observers = observers or Observers()
    participant = participant or ParticipantMetadata()
    http, client = _backend(settings)
    outbox = Outbox(
        settings.spool_path,
        client,
        max_pending=settings.spool_max_rows,
        on_commit=observers.on_commit,
    )
    stop_gauges: Callable[[], None] | None = None
    session: VoiceSession | None = None
    try:
        await outbox.start()
        agent_session = build_agent_session(providers, settings, userdata=make_userdata(agent))
        session = VoiceSession(
            agent_session,
            agent,
            settings=settings,
            session_id=session_id,
            outbox=outbox,
            client=client,
            room=room,
            participant=participant,
            room_control=room_control,
            caller=caller,
        )
        if room_events is not None:
            session.participants.attach(room_events)
        stop_gauges = observers.attach(session)
        start_options = dict(attach_io(session)) if attach_io is not None else {}
        # Caller data reaches the LLM as quoted data, never as instructions of its own.
        await session.caller_context.brief(agent)
        await session.prepare(agent)
        await agent_session.start(agent, **start_options)
        yield session
    finally:
        if session is not None and not session.finished.is_set():
            # Cancelled (livekit's forced shutdown gives the entrypoint 15 s, then cancels it)
            # or failed: end the call and persist it before the outbox closes. Shielded, so the
            # cancellation cannot cut it short.
            await asyncio.shield(_end_and_persist(session))
        if session is not None:
            session.participants.detach()
        if stop_gauges is not None:
            stop_gauges()
        if session is not None:
            observers.closed(session, await outbox.stats())
        await outbox.aclose()
        await providers.aclose()
        if http is not None:
            await http.aclose()


async def _end_and_persist(session: VoiceSession) -> None:
    if not session.lifecycle.is_finished:
        session.end()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.finished.wait(), session.settings.shutdown_budget_s)
