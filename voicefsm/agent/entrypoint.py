"""The job entrypoint: one conversation, from joining the room to exiting it.

The same function runs a real call (``voicefsm start``) and a simulated one (``voicefsm
simulate``); only the :class:`~voicefsm.agent.plumbing.Plumbing` differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from livekit.agents import AgentSession, JobContext, TurnHandlingOptions

from voicefsm.agent.controller import SessionOptions, VoiceSession
from voicefsm.agent.plumbing import Plumbing, Providers
from voicefsm.agent.prompts import DEFAULT_INSTRUCTIONS
from voicefsm.agent.voice_agent import VoiceFsmAgent
from voicefsm.backend.client import BackendClient
from voicefsm.context import (
    parse_participant_metadata,
    parse_room_metadata,
    participant_context_block,
)
from voicefsm.lifecycle import EndReason
from voicefsm.persistence.outbox import Outbox, OutboxStats
from voicefsm.settings import Settings

_LOG = logging.getLogger("voicefsm.agent")


@dataclass
class JobDeps:
    settings: Settings
    plumbing: Plumbing
    options: SessionOptions = field(default_factory=SessionOptions)
    instructions: str = DEFAULT_INSTRUCTIONS
    #: Called with each session's controller once it exists (the simulator watches them).
    on_session: Callable[[JobContext, VoiceSession], None] | None = None
    #: Called when the session has exited, with its outbox figures.
    on_finished: Callable[[JobContext, OutboxStats], None] | None = None


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
    )


async def close_providers(providers: Providers) -> None:
    """Providers are built per job; their connections (HTTP clients, sockets) end with it."""
    for provider in (providers.stt, providers.llm, providers.tts, providers.vad):
        if provider is not None:
            with contextlib.suppress(Exception):
                await provider.aclose()  # type: ignore[union-attr]


async def run_job(ctx: JobContext, deps: JobDeps) -> None:
    """Join, converse, persist, exit. Ends the job (``ctx.shutdown``) when the session exits."""
    settings = deps.settings
    await ctx.connect()
    participant = await ctx.wait_for_participant()
    room = parse_room_metadata(_metadata(ctx.room.metadata) or _metadata(ctx.job.room.metadata))
    person = parse_participant_metadata(_metadata(participant.metadata))

    http: httpx.AsyncClient | None = None
    client: BackendClient | None = None
    if settings.backend_url is not None:
        http = httpx.AsyncClient(base_url=str(settings.backend_url))
        client = BackendClient(
            http,
            token=settings.backend_token,
            read_deadline_s=settings.backend_read_timeout_s,
            write_timeout_s=settings.backend_write_timeout_s,
        )
    outbox = Outbox(settings.spool_path, client, max_pending=settings.spool_max_rows)
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
        options=deps.options,
        on_finished=finished,
    )
    if deps.on_session is not None:
        deps.on_session(ctx, controller)

    async def on_shutdown(reason: str) -> None:
        # The worker is stopping (drain, SIGTERM): end the conversation and persist it within
        # the shutdown budget.
        if not controller.lifecycle.is_finished:
            controller.end(EndReason.HANG_UP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(controller.finished.wait(), settings.flush_deadline_s + 1)

    ctx.add_shutdown_callback(on_shutdown)
    instructions = deps.instructions + "\n\n" + participant_context_block(person.value)
    agent = VoiceFsmAgent(controller, instructions=instructions)
    start_options = deps.plumbing.attach(session, ctx, controller)
    try:
        await session.start(agent, **start_options)
        await controller.finished.wait()
    finally:
        stats = await outbox.stats()
        await outbox.aclose()
        await close_providers(providers)
        if deps.on_finished is not None:
            deps.on_finished(ctx, stats)
        if http is not None:
            await http.aclose()
