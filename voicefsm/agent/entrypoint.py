"""The job entrypoint: one conversation, from joining the room to exiting it.

The same function runs a real call (``voicefsm start``) and a simulated one (``voicefsm
simulate``); only the :class:`~voicefsm.agent.plumbing.Plumbing` differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
from livekit.agents import NOT_GIVEN, AgentSession, JobContext, TurnHandlingOptions
from opentelemetry.trace import Tracer

from voicefsm.agent.controller import SessionOptions, VoiceSession
from voicefsm.agent.interpreter_guard import install_interpreter_guard
from voicefsm.agent.plumbing import Plumbing, Providers
from voicefsm.agent.prompts import DEFAULT_INSTRUCTIONS
from voicefsm.agent.voice_agent import VoiceFsmAgent
from voicefsm.backend.client import BackendClient, backend_http
from voicefsm.context import (
    parse_participant_metadata,
    parse_room_metadata,
    participant_context_block,
)
from voicefsm.lifecycle import EndReason
from voicefsm.observability.metrics import SessionMetrics
from voicefsm.observability.tracing import SessionTracer
from voicefsm.persistence.outbox import CommitListener, Outbox, OutboxStats
from voicefsm.settings import Settings

_LOG = logging.getLogger("voicefsm.agent")


@dataclass
class JobDeps:
    settings: Settings
    plumbing: Plumbing
    #: None: the defaults, with the flush deadline from ``settings.flush_deadline_s``.
    options: SessionOptions | None = None
    instructions: str = DEFAULT_INSTRUCTIONS
    #: Called with each session's controller once it exists (the simulator watches them).
    on_session: Callable[[JobContext, VoiceSession], None] | None = None
    #: Called when the session has exited, with its outbox figures.
    on_finished: Callable[[JobContext, OutboxStats], None] | None = None
    #: Told the idempotency keys of each batch of writes once acknowledged (spool commit),
    #: on the outbox's writer thread: an audit trail for the crash trials and for operators.
    on_commit: CommitListener | None = None
    #: Prometheus metrics to count this session in (None: not counted).
    metrics: SessionMetrics | None = None
    #: Where session and state spans go (None: OpenTelemetry's global tracer, a no-op unless
    #: configured).
    tracer: Tracer | None = None


def _metadata(value: object) -> str | None:
    # Mock rooms hand out mocks for unset fields; only a real string is metadata.
    return value if isinstance(value, str) and value else None


def build_agent_session(providers: Providers, settings: Settings) -> AgentSession[Any]:
    """The livekit session, configured for the lifecycle to decide when to reply."""
    return AgentSession(
        stt=providers.stt,
        llm=providers.llm,
        tts=providers.tts,
        vad=providers.vad,
        turn_handling=cast(
            "TurnHandlingOptions",
            {
                "turn_detection": providers.turn_detection,
                "endpointing": {"min_delay": providers.min_endpointing_delay_s},
                # The lifecycle decides when to reply (StopResponse + generate_reply); a
                # preemptive reply would be an LLM call thrown away on every turn.
                "preemptive_generation": {"enabled": False},
            },
        ),
        user_away_timeout=settings.silence_timeout_s,
        session_close_transcript_timeout=0.5,
        conn_options=providers.conn_options or NOT_GIVEN,
    )


def _backend_client(settings: Settings) -> tuple[httpx.AsyncClient | None, BackendClient | None]:
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


def _observe(controller: VoiceSession, outbox: Outbox, deps: JobDeps) -> asyncio.Task[None] | None:
    """Spans for the session (no-op unless OpenTelemetry is configured) and, when asked for,
    its metrics; returns the task keeping the outbox gauges current."""
    SessionTracer(
        controller.lifecycle,
        session_id=controller.state.session_id,
        conversation_id=controller.conversation_id,
        tracer=deps.tracer,
    )
    metrics = deps.metrics
    if metrics is None:
        return None
    metrics.attach(controller.lifecycle)
    controller.on_latency = lambda t: metrics.turn(t.e2e_latency_s, t.llm_ttft_s, t.tts_ttfb_s)
    return asyncio.create_task(_outbox_gauges(outbox, metrics), name="voicefsm-gauges")


async def _outbox_gauges(outbox: Outbox, metrics: SessionMetrics) -> None:
    """Keep the outbox gauges current while the call runs (a COUNT off the event loop)."""
    while True:
        status = await outbox.status()
        metrics.outbox(status.pending, status.oldest_age_s)
        await asyncio.sleep(5.0)


async def close_providers(providers: Providers) -> None:
    """Providers are built per job; their connections (HTTP clients, sockets) end with it."""
    for provider in (providers.stt, providers.llm, providers.tts, providers.vad):
        if provider is not None:
            with contextlib.suppress(Exception):
                await provider.aclose()  # type: ignore[union-attr]


async def _end_and_persist(controller: VoiceSession, options: SessionOptions) -> None:
    if not controller.lifecycle.is_finished:
        controller.end(EndReason.HANG_UP)
    budget = options.farewell_deadline_s + options.flush_deadline_s + 1.0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(controller.finished.wait(), budget)


async def run_job(ctx: JobContext, deps: JobDeps) -> None:
    """Join, converse, persist, exit. Ends the job (``ctx.shutdown``) when the session exits."""
    install_interpreter_guard()  # job processes are fresh interpreters
    settings = deps.settings
    await ctx.connect()
    participant = await ctx.wait_for_participant()
    room = parse_room_metadata(_metadata(ctx.room.metadata) or _metadata(ctx.job.room.metadata))
    person = parse_participant_metadata(_metadata(participant.metadata))

    options = deps.options or SessionOptions(flush_deadline_s=settings.flush_deadline_s)
    http, client = _backend_client(settings)
    outbox = Outbox(
        settings.spool_path, client, max_pending=settings.spool_max_rows, on_commit=deps.on_commit
    )
    await outbox.start()

    providers = deps.plumbing.providers(ctx)
    session = build_agent_session(providers, settings)

    async def finished(reason: EndReason) -> None:
        ctx.shutdown(reason=reason.value)

    controller = VoiceSession(
        session,
        session_id=ctx.job.id,
        room=room.value,
        participant=person.value,
        outbox=outbox,
        client=client,
        options=options,
        on_finished=finished,
    )
    gauges = _observe(controller, outbox, deps)
    if deps.on_session is not None:
        deps.on_session(ctx, controller)

    instructions = deps.instructions + "\n\n" + participant_context_block(person.value)
    agent = VoiceFsmAgent(controller, instructions=instructions)
    start_options = deps.plumbing.attach(session, ctx, controller)
    try:
        await session.start(agent, **start_options)
        await controller.finished.wait()
    finally:
        if not controller.finished.is_set():
            # Cancelled (livekit's forced shutdown: drain timed out, worker closing; it gives
            # the entrypoint 15 s, then cancels it) or failed: end the conversation and persist
            # it before the outbox closes. Shielded, so the cancellation cannot cut it short.
            await asyncio.shield(_end_and_persist(controller, options))
        if gauges is not None:
            gauges.cancel()
        stats = await outbox.stats()
        if deps.metrics is not None:
            deps.metrics.outbox_final(stats)
        await outbox.aclose()
        await close_providers(providers)
        if deps.on_finished is not None:
            deps.on_finished(ctx, stats)
        if http is not None:
            await http.aclose()
