"""The job entrypoint: one call, from joining the room to exiting it.

The same function runs a real call (``voicefsm start``, ``python -m livekit.agents start``) and
a simulated one (``voicefsm simulate``); only the :class:`JobPlumbing` differs: where the
providers come from, and how audio and text reach the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import JobContext

from voicefsm.agent.definition import VoiceAgent
from voicefsm.context import parse_participant_metadata, parse_room_metadata
from voicefsm.engine.assembly import open_session
from voicefsm.engine.observers import Observers
from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.providers import Providers
from voicefsm.settings import Settings
from voicefsm.worker.interpreter_guard import install_interpreter_guard
from voicefsm.worker.room_memory import (
    caller_key,
    conversation_for_room,
    hold_caller_conversation,
    remember_conversation,
)

AgentFactory = Callable[[], VoiceAgent]


class JobPlumbing(Protocol):
    """What differs between a real call and a simulated one."""

    def providers(self, ctx: JobContext) -> Providers:
        """The STT, LLM, TTS and VAD for this job's session."""

    def attach_io(self, ctx: JobContext, session: VoiceSession) -> Mapping[str, Any]:
        """Connect the session's input and output; returns extra ``session.start`` keywords."""

    def room_control(self, ctx: JobContext, settings: Settings) -> RoomControl:
        """What may be changed in the job's room (hanging up, its metadata)."""

    def room_events(self, ctx: JobContext, caller: rtc.RemoteParticipant) -> RoomEvents:
        """Where the room's participant events come from; ``caller`` is already in it."""


def _metadata(value: object) -> str | None:
    # Mock rooms hand out mocks for unset fields; only a real string is metadata.
    return value if isinstance(value, str) and value else None


def _in_room(events: RoomEvents, identity: str) -> object | None:
    try:
        return next(
            (p for p in events.remote_participants.values() if p.identity == identity), None
        )
    except Exception:  # a room that cannot list its participants
        return None


async def run_job(
    ctx: JobContext,
    *,
    agent: AgentFactory,
    plumbing: JobPlumbing,
    settings: Settings,
    observers: Observers | None = None,
) -> None:
    """Join, converse, persist, exit. Ends the job (``ctx.shutdown``) when the session exits."""
    install_interpreter_guard()  # job processes are fresh interpreters
    await ctx.connect()
    caller = await ctx.wait_for_participant()
    raw_room = _metadata(ctx.room.metadata) or _metadata(ctx.job.room.metadata)
    room = parse_room_metadata(raw_room)
    control = plumbing.room_control(ctx, settings)
    events = plumbing.room_events(ctx, caller)
    # The caller as the room knows them (a simulated room holds their metadata and attributes).
    known_caller = _in_room(events, caller.identity) or caller
    participant = parse_participant_metadata(_metadata(getattr(known_caller, "metadata", None)))
    key = caller_key(settings, known_caller, participant.value)
    known = await conversation_for_room(
        ctx.job.room.name, room.value, settings, caller=key, session_id=ctx.job.id
    )
    async with open_session(
        agent(),
        providers=plumbing.providers(ctx),
        settings=settings,
        session_id=ctx.job.id,
        room=known,
        participant=participant.value,
        observers=observers,
        attach_io=lambda session: plumbing.attach_io(ctx, session),
        room_control=control,
        room_events=events,
        caller=caller.identity,
    ) as session:
        if room.value.conversation_id is None:
            remember = remember_conversation(control, raw_room, room, session.record)
            session.spawn(remember, "voicefsm-remember-conversation")
            if key:
                hold = hold_caller_conversation(key, ctx.job.id, settings, session.finished)
                session.spawn(hold, "voicefsm-caller-hold")
        await session.finished.wait()
        reason = session.lifecycle.end_reason
        ctx.shutdown(reason=reason.value if reason else "")
