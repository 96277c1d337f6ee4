"""Voice sessions for benchmarks: the voicefsm agent or a bare livekit agent, on the same
scripted providers and simulated audio, with turn latency measured the same way for both:
from the end of the user's speech to the first agent audio reaching the speaker."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit.agents import Agent, AgentSession

from voicefsm.agent import DEFAULT_FAREWELL as FAREWELL
from voicefsm.agent import VoiceAgent
from voicefsm.backend.client import BackendClient
from voicefsm.context import ParticipantMetadata, RoomMetadata, greeting_for
from voicefsm.engine.assembly import build_agent_session, open_session
from voicefsm.engine.observers import Observers
from voicefsm.engine.session import VoiceSession
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.persistence.outbox import Outbox
from voicefsm.providers import Providers
from voicefsm.providers.devices import SimulatedMicrophone, SimulatedSpeaker, attach_simulated_audio
from voicefsm.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.settings import Settings, load_settings

REPLY = "Sure, done."  # short replies keep benchmark turns short; both agents say the same
USER = "Next one please"
TURN_TIMEOUT_S = 30.0


def scripted_providers() -> tuple[Providers, ScriptedSTT]:
    """Realistic first-byte timings: LLM 150 ms to first token, TTS 80 ms to first audio."""
    stt = ScriptedSTT(end_silence_s=0.2)
    providers = Providers(
        stt=stt,
        llm=ScriptedLLM(reply=lambda _text: REPLY, ttft_s=0.15),
        tts=ScriptedTTS(ttfb_s=0.08),
        vad=None,
        turn_detection="stt",
        min_endpointing_delay_s=0.3,
    )
    return providers, stt


class _BareAgent(Agent):
    """livekit's own way: the framework replies to every turn; greets like voicefsm does."""

    def __init__(self, *, greeting: str | None = None) -> None:
        super().__init__(instructions="benchmark")
        self._greeting = greeting or greeting_for(
            RoomMetadata(), ParticipantMetadata(display_name="Ada")
        )

    async def on_enter(self) -> None:
        self.session.say(self._greeting)


@dataclass
class Measured:
    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0


@dataclass
class BenchSession:
    session: AgentSession[Any]
    microphone: SimulatedMicrophone
    speaker: SimulatedSpeaker
    controller: VoiceSession | None
    #: The session's own outbox (closed with it), when none was shared.
    own_outbox: Outbox | None = None
    #: What the bare agent says to end the call (the voicefsm agent's own farewell).
    farewell: str = FAREWELL
    #: A session opened as the worker opens one: closed by leaving its ``open_session``.
    exit_stack: contextlib.AsyncExitStack | None = None

    async def _until(self, condition: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def converse(self, turns: int, measured: Measured) -> None:
        speaker = self.speaker
        await self._until(
            lambda: speaker.segments_played >= 1 and not speaker.playing.is_set(), TURN_TIMEOUT_S
        )
        for _ in range(turns):
            await asyncio.sleep(0.2)
            played = speaker.segments_played
            await self.microphone.speak(USER)
            spoken_at = asyncio.get_running_loop().time()  # the speaker's clock too
            if not await self._until(speaker.playing.is_set, TURN_TIMEOUT_S):
                measured.failures += 1
                continue
            measured.latencies_s.append(speaker.last_started_at - spoken_at)
            await self._until(
                lambda p=played: speaker.segments_played > p and not speaker.playing.is_set(),
                TURN_TIMEOUT_S,
            )

    async def aclose(self) -> None:
        if self.controller is not None:
            if not self.controller.lifecycle.is_finished:
                self.controller.end()
            await asyncio.wait_for(self.controller.finished.wait(), 30)
            if self.own_outbox is not None:
                await self.own_outbox.aclose()
            if self.exit_stack is not None:
                await self.exit_stack.aclose()
        else:  # the same goodbye the voicefsm agent says, so both do the same work
            with contextlib.suppress(RuntimeError, TimeoutError):
                await asyncio.wait_for(
                    self.session.say(self.farewell, allow_interruptions=False), 4.0
                )
            await self.session.aclose()
        self.microphone.close()
        await self.speaker.aclose()


async def start_session(
    kind: str,
    *,
    outbox: Outbox | None = None,
    client: BackendClient | None = None,
) -> BenchSession:
    """``kind`` is "voicefsm" or "bare"."""
    providers, stt = scripted_providers()
    settings = load_settings(flush_deadline_s=2.0)
    session = build_agent_session(providers, settings)
    microphone, speaker = attach_simulated_audio(session, stt.expect, words_per_s=4.0)
    controller = None
    own_outbox = None
    if kind == "voicefsm":
        if outbox is None:  # spooled locally, as a session without a backend does
            spool = Path(tempfile.mkdtemp(prefix="voicefsm-bench-")) / "spool.sqlite3"
            outbox = own_outbox = Outbox(spool, None)
            await outbox.start()
        agent = VoiceAgent(instructions="benchmark")
        controller = VoiceSession(
            session,
            agent,
            settings=settings,
            session_id=f"bench-{id(session):x}",
            room=RoomMetadata(),
            participant=ParticipantMetadata(display_name="Ada"),
            outbox=outbox,
            client=client,
        )
        await session.start(agent)
    else:
        await session.start(_BareAgent())
    return BenchSession(session, microphone, speaker, controller, own_outbox)


_IDS = itertools.count(1)


async def start_worker_session(
    kind: str, settings: Settings, metrics: PrometheusMetrics, *, greeting: str, farewell: str
) -> BenchSession:
    """A session opened the way ``voicefsm start`` opens one (``open_session`` with its own
    outbox on the process's spool, and the worker's Prometheus observers), or the bare agent
    beside it. ``greeting`` and ``farewell`` are said by both kinds."""
    providers, stt = scripted_providers()
    if kind == "bare":
        session = build_agent_session(providers, settings)
        microphone, speaker = attach_simulated_audio(session, stt.expect, words_per_s=4.0)
        await session.start(_BareAgent(greeting=greeting))
        return BenchSession(session, microphone, speaker, None, farewell=farewell)
    devices: list[tuple[SimulatedMicrophone, SimulatedSpeaker]] = []

    def attach(voice: VoiceSession) -> dict[str, Any]:
        devices.append(attach_simulated_audio(voice.agent_session, stt.expect, words_per_s=4.0))
        return {}

    stack = contextlib.AsyncExitStack()
    controller = await stack.enter_async_context(
        open_session(
            VoiceAgent(instructions="benchmark", greeting=greeting, farewell=farewell),
            providers=providers,
            settings=settings,
            session_id=f"bench-{next(_IDS)}",
            participant=ParticipantMetadata(display_name="Ada"),
            observers=Observers(metrics=metrics),
            attach_io=attach,
        )
    )
    ((microphone, speaker),) = devices
    return BenchSession(controller.agent_session, microphone, speaker, controller, exit_stack=stack)
