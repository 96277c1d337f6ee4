"""A live voice session for tests: a real AgentSession with scripted providers and simulated
audio devices, the real VoiceSession and agent, and (optionally) a real outbox and backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from voicefsm.agent.controller import SessionOptions, VoiceSession
from voicefsm.agent.entrypoint import build_agent_session, close_providers
from voicefsm.agent.plumbing import Providers
from voicefsm.agent.voice_agent import VoiceFsmAgent
from voicefsm.backend.client import BackendClient
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.persistence.outbox import CommitListener, Outbox
from voicefsm.providers.devices import SimulatedMicrophone, SimulatedSpeaker, attach_simulated_audio
from voicefsm.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.settings import load_settings
from voicefsm.simulation.scenario import Scenario, Turn
from voicefsm.simulation.user import SimulatedUser

FAST = SessionOptions(flush_deadline_s=5.0, farewell_deadline_s=3.0)


@dataclass
class Live:
    controller: VoiceSession
    microphone: SimulatedMicrophone
    speaker: SimulatedSpeaker
    llm: ScriptedLLM
    tts: ScriptedTTS
    stt: ScriptedSTT
    outbox: Outbox | None

    async def converse(self, turns: list[Turn], end: str = "hang_up") -> SimulatedUser:
        user = SimulatedUser(
            self.controller,
            self.microphone,
            self.speaker,
            self.llm,
            Scenario(turns=turns, end=end),  # type: ignore[arg-type]
        )
        await user.run()
        await self.controller.finished.wait()
        return user

    def trail(self) -> list[tuple[str, str, str]]:
        return [
            (e.source.value, e.trigger.value, e.dest.value)
            for e in self.controller.lifecycle.timeline
        ]


@asynccontextmanager
async def live_session(
    tmp_path: Path,
    *,
    backend_url: str | None = None,
    room: RoomMetadata | None = None,
    participant: ParticipantMetadata | None = None,
    options: SessionOptions = FAST,
    providers: Providers | None = None,
    announce: Callable[[str], None] | None = None,
    session_id: str | None = None,
    on_commit: CommitListener | None = None,
) -> AsyncIterator[Live]:
    """Scripted providers by default; pass real ones (and who transcribes the user) to test them.

    ``on_commit`` is told the keys of the writes the spool acknowledges (the trials count them).
    """
    stt, llm, tts = (
        ScriptedSTT(end_silence_s=0.2),
        ScriptedLLM(ttft_s=0.1),
        ScriptedTTS(chars_per_s=30.0),
    )
    if providers is None:
        providers = Providers(
            stt=stt, llm=llm, tts=tts, vad=None, turn_detection="stt", min_endpointing_delay_s=0.2
        )
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3")
    http = httpx.AsyncClient(base_url=backend_url or "http://127.0.0.1:9")
    client = BackendClient(http, read_deadline_s=1.0) if backend_url else None
    outbox = Outbox(settings.spool_path, client, on_commit=on_commit)
    await outbox.start()
    session = build_agent_session(providers, settings)
    controller = VoiceSession(
        session,
        session_id=session_id or f"test-{tmp_path.name[-8:]}",
        room=room or RoomMetadata(),
        participant=participant or ParticipantMetadata(display_name="Ada"),
        outbox=outbox,
        client=client,
        options=options,
    )
    microphone, speaker = attach_simulated_audio(session, announce or stt.expect, words_per_s=5.0)
    try:
        await session.start(VoiceFsmAgent(controller, instructions="test agent"))
        yield Live(controller, microphone, speaker, llm, tts, stt, outbox)
    finally:
        if not controller.lifecycle.is_finished:
            controller.end()
        await controller.finished.wait()
        microphone.close()
        await speaker.aclose()
        await outbox.aclose()
        await close_providers(providers)
        await http.aclose()
