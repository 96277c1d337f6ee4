"""The end of a session: the farewell heard, the summary written, the outbox flushed, then the
livekit session closed. Each step has its deadline, so a session always reaches ``exiting``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livekit.agents import AgentSession

from voicefsm.engine.hook_runner import HookRunner
from voicefsm.engine.pipeline import Pipeline
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.writes import SessionWrites
from voicefsm.lifecycle import EndReason, Lifecycle, Persisted
from voicefsm.livekit_compat import skip_last_words_on_close
from voicefsm.logs import Log
from voicefsm.persistence.outbox import Outbox


async def persist(
    reason: EndReason,
    *,
    agent_session: AgentSession[Any],
    lifecycle: Lifecycle,
    pipeline: Pipeline,
    writes: SessionWrites,
    outbox: Outbox,
    hooks: HookRunner,
    farewell_deadline_s: float,
    flush_deadline_s: float,
    log: Log,
) -> None:
    """Wait for the farewell (bounded), record it through the lifecycle, stop listening, let
    the agent's hooks still running finish (bounded by their deadline), write the summary and
    flush."""
    farewell = pipeline.farewell
    if farewell is not None and not pipeline.closed:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(farewell_deadline_s):
                await farewell
        spoken = pipeline.farewell_spoken()
        if spoken is not None:
            lifecycle.fire(spoken)
    if not pipeline.closed:  # livekit closed it already: nothing is listening
        try:
            stop_listening(agent_session)
        except Exception as exc:  # livekit's listeners run in it: never in the summary's way
            log.exception(
                "detaching the caller's audio failed", extra={"error_type": type(exc).__name__}
            )
    pending: int | None = None
    try:
        await hooks.drain()
        writes.summary(reason, lifecycle.timeline)
        pending = await outbox.flush(flush_deadline_s)
    except Exception as exc:  # the session must reach exiting, whatever the outbox does
        log.exception(
            "persisting failed; the session ends", extra={"error_type": type(exc).__name__}
        )
    finally:
        # Also when cancelled: exiting is reached through persisted, and nothing else fires it.
        lifecycle.fire(Persisted(outbox.undelivered() if pending is None else pending))


def stop_listening(agent_session: AgentSession[Any]) -> None:
    """Nothing the caller says from here on changes the call: detach their audio (livekit's
    room input then drops its frames), so that persisting, which may wait on the disk and the
    backend for seconds, costs no speech recognition, voice activity or turn detection per
    frame. Under load those frames were most of what a session's ending cost. The session's
    close then does not wait for their last words either."""
    if agent_session.input.audio is not None:
        agent_session.input.set_audio_enabled(False)
    skip_last_words_on_close(agent_session)


#: Endings the agent decides on: the caller may still be on the line and must be hung up.
HANG_UP_REASONS = frozenset({EndReason.END_CALL, EndReason.SILENCE_TIMEOUT, EndReason.FATAL_ERROR})


async def close(
    agent_session: AgentSession[Any],
    pipeline: Pipeline,
    *,
    reason: EndReason,
    room: RoomControl,
    hang_up_room: bool,
    log: Log,
) -> None:
    """Close the livekit session (unless livekit already did), stop every deadline, and hang
    the caller up when the agent ended the call (delete the room, once everything is
    persisted)."""
    pipeline.stop_deadlines()
    if not pipeline.closed:
        await agent_session.aclose()
    if reason not in HANG_UP_REASONS or not hang_up_room:
        return
    if room.available:
        await room.delete_room()
    else:
        log.info("the agent ended the call; no room to hang up (no LiveKit credentials)")
