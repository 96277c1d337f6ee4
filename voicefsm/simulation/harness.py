"""The simulation's plumbing: per job, scripted providers and simulated devices instead of a
LiveKit room, and a simulated user driving the conversation. The job itself runs the production
entrypoint inside an unregistered ``AgentServer`` (``simulate_job`` with a mock room)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import AgentSession, JobContext

from voicefsm.agent.controller import VoiceSession
from voicefsm.agent.plumbing import Providers
from voicefsm.persistence.outbox import OutboxStats
from voicefsm.providers.devices import attach_simulated_audio
from voicefsm.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.simulation.scenario import Scenario
from voicefsm.simulation.user import SimulatedUser


@dataclass
class SessionRun:
    """Everything one simulated job produced (filled in from the job's own thread)."""

    room: str
    controller: VoiceSession | None = None
    #: The session's scripted LLM (what it was asked is in ``llm.chat_contexts``).
    llm: ScriptedLLM | None = None
    user_stuck: bool = False
    outbox: OutboxStats | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Devices:
    stt: ScriptedSTT
    llm: ScriptedLLM
    tts: ScriptedTTS


class SimulationPlumbing:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.runs: dict[str, SessionRun] = {}
        self._devices: dict[str, _Devices] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # each on its own job's loop
        self._lock = threading.Lock()

    def expect(self, room: str) -> SessionRun:
        with self._lock:
            run = self.runs[room] = SessionRun(room)
        return run

    def providers(self, ctx: JobContext) -> Providers:
        devices = _Devices(ScriptedSTT(), ScriptedLLM(), ScriptedTTS())
        with self._lock:
            self._devices[ctx.job.room.name] = devices
        return Providers(
            stt=devices.stt, llm=devices.llm, tts=devices.tts, vad=None, turn_detection="stt"
        )

    def attach(
        self, session: AgentSession[Any], ctx: JobContext, controller: VoiceSession
    ) -> dict[str, Any]:
        room = ctx.job.room.name
        with self._lock:
            devices = self._devices[room]
            run = self.runs[room]
        run.controller = controller
        run.llm = devices.llm
        microphone, speaker = attach_simulated_audio(session, devices.stt.expect)

        user = SimulatedUser(controller, microphone, speaker, devices.llm, self.scenario)

        async def converse() -> None:
            try:
                await user.run()
                await controller.finished.wait()
            finally:
                run.user_stuck = user.stuck
                microphone.close()
                await speaker.aclose()

        task = asyncio.get_running_loop().create_task(converse(), name=f"simulated-user-{room}")
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {}

    def finished(self, ctx: JobContext, stats: OutboxStats) -> None:
        with self._lock:
            run = self.runs.get(ctx.job.room.name)
        if run is not None:
            run.outbox = stats
            run.done.set()
