"""Production plumbing: providers from settings; audio and typed chat through the LiveKit room."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, JobContext, room_io

from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.providers import Providers
from voicefsm.settings import Settings
from voicefsm.worker.room_service import LiveKitRoom


class RoomPlumbing:
    """A real call: the room's audio and ``lk.chat`` text, the providers given."""

    def __init__(self, providers: Providers) -> None:
        self._providers = providers

    def providers(self, ctx: JobContext) -> Providers:
        return self._providers

    def attach_io(self, ctx: JobContext, session: VoiceSession) -> Mapping[str, Any]:
        async def typed(_session: AgentSession[Any], event: room_io.TextInputEvent) -> None:
            # Typed chat (lk.chat) takes the same path as speech: the lifecycle decides.
            await session.typed_text(event.text)

        options = room_io.RoomOptions(
            text_input=room_io.TextInputOptions(text_input_cb=typed),
            # With a grace period the caller leaving holds the call (voicefsm.engine.rejoin)
            # and livekit relinks them when they rejoin; without, livekit ends it at once.
            close_on_disconnect=session.settings.rejoin_grace_s == 0,
        )
        return {"room": ctx.room, "room_options": options}

    def room_control(self, ctx: JobContext, settings: Settings) -> RoomControl:
        log = logging.getLogger("voicefsm.agent")
        return LiveKitRoom(ctx.room.name, settings.livekit_credentials(), log=log)

    def room_events(self, ctx: JobContext, caller: rtc.RemoteParticipant) -> RoomEvents:
        return ctx.room
