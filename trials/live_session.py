"""A live voice session for tests: a real AgentSession with scripted providers and simulated
audio devices, assembled by voicefsm's own ``open_session`` (as the worker does), with a real
outbox and (optionally) the real backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicefsm.agent import VoiceAgent
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.engine.assembly import open_session
from voicefsm.engine.observers import Observers
from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.persistence.outbox import CommitListener, Outbox
from voicefsm.providers import Providers
from voicefsm.providers.devices import SimulatedMicrophone, SimulatedSpeaker, attach_simulated_audio
from voicefsm.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.settings import Settings, load_settings
from voicefsm.simulation.scenario import Scenario, Turn
from voicefsm.simulation.user import SimulatedUser

#: Shorter session deadlines than production: tests end sessions often.
FAST = {"flush_deadline_s": 5.0, "farewell_deadline_s": 3.0, "backend_read_timeout_s": 1.0}


@dataclass
class Live:
    session: VoiceSession
    microphone: SimulatedMicrophone
    speaker: SimulatedSpeaker
    llm: ScriptedLLM
    tts: ScriptedTTS
    stt: ScriptedSTT
    outbox: Outbox

    async def converse(self, turns: list[Turn], end: str = "hang_up") -> SimulatedUser:
        user = SimulatedUser(
            self.session,
            self.microphone,
            self.speaker,
            self.llm,
            Scenario(turns=turns, end=end),  # type: ignore[arg-type]
        )
        await user.run()
        await self.session.finished.wait()
        return user

    def trail(self) -> list[tuple[str, str, str]]:
        return [
            (e.source.value, e.trigger.value, e.dest.value) for e in self.session.lifecycle.timeline
        ]


def session_settings(tmp_path: Path, backend_url: str | None, **overrides: object) -> Settings:
    return load_settings(
        spool_path=tmp_path / "spool.sqlite3", backend_url=backend_url, **(FAST | overrides)
    )


@asynccontextmanager
async def live_session(
    tmp_path: Path,
    *,
    backend_url: str | None = None,
    room: RoomMetadata | None = None,
    participant: ParticipantMetadata | None = None,
    settings: Mapping[str, object] | None = None,
    providers: Providers | None = None,
    announce: Callable[[str], None] | None = None,
    session_id: str | None = None,
    on_commit: CommitListener | None = None,
    agent: VoiceAgent | None = None,
    room_control: RoomControl | None = None,
    room_events: RoomEvents | None = None,
    caller: str | None = None,
) -> AsyncIterator[Live]:
    """Scripted providers by default; pass real ones (and who transcribes the user) to test them.

    ``settings`` override the test defaults; ``on_commit`` is told the keys of the writes the
    spool acknowledges (the trials count them).
    """
    stt, llm, tts = (
        ScriptedSTT(end_silence_s=0.2),
        ScriptedLLM(ttft_s=0.1),
        ScriptedTTS(chars_per_s=30.0),
    )
    if providers is None:
        providers = Providers(
            llm=llm, stt=stt, tts=tts, turn_detection="stt", min_endpointing_delay_s=0.2
        )
    devices: dict[str, Any] = {}

    def attach(session: VoiceSession) -> Mapping[str, Any]:
        devices["io"] = attach_simulated_audio(
            session.agent_session, announce or stt.expect, words_per_s=5.0
        )
        return {}

    async with open_session(
        agent or VoiceAgent(instructions="test agent"),
        providers=providers,
        settings=session_settings(tmp_path, backend_url, **dict(settings or {})),
        session_id=session_id or f"test-{tmp_path.name[-8:]}",
        room=room,
        participant=participant or ParticipantMetadata(display_name="Ada"),
        observers=Observers(on_commit=on_commit),
        attach_io=attach,
        room_control=room_control,
        room_events=room_events,
        caller=caller,
    ) as session:
        microphone, speaker = devices["io"]
        try:
            yield Live(session, microphone, speaker, llm, tts, stt, session.outbox)
        finally:
            if not session.lifecycle.is_finished:
                session.end()
            await session.finished.wait()
            microphone.close()
            await speaker.aclose()
