"""The simulation's plumbing: per job, scripted providers and simulated devices instead of a
LiveKit room, and a simulated user driving the conversation. The job itself runs the production
entrypoint inside an unregistered ``AgentServer`` (``simulate_job`` with a mock room)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.agents import JobContext

from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.persistence.outbox import OutboxStats
from voicefsm.providers import Providers
from voicefsm.providers.devices import attach_simulated_audio
from voicefsm.providers.scripted import (
    ScriptedLLM,
    ScriptedSTT,
    ScriptedToolCall,
    ScriptedTTS,
    ScriptedTurn,
)
from voicefsm.settings import Settings
from voicefsm.simulation.rooms import SimulatedParticipant, SimulatedRoom, SimulatedRooms
from voicefsm.simulation.scenario import Scenario
from voicefsm.simulation.user import SimulatedUser


@dataclass
class SessionRun:
    """Everything one simulated job produced (filled in from the job's own thread)."""

    room: str
    session: VoiceSession | None = None
    #: The job's room: drive its participants from the job's loop (``session.agent_session``).
    live_room: SimulatedRoom | None = None
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


def llm_script(scenario: Scenario) -> dict[str, ScriptedTurn]:
    """What the scripted model answers to each scripted turn that says more than the default."""
    return {
        turn.user: ScriptedTurn(
            tools=tuple(ScriptedToolCall(step.name, step.arguments) for step in turn.tools),
            reply=turn.reply,
            preamble=turn.preamble,
        )
        for turn in scenario.turns
        if turn.tools or turn.reply or turn.preamble
    }


class SimulationPlumbing:
    def __init__(self, scenario: Scenario, rooms: SimulatedRooms | None = None) -> None:
        self.scenario = scenario
        self.rooms = rooms or SimulatedRooms()
        self.runs: dict[str, SessionRun] = {}
        self._devices: dict[str, _Devices] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # each on its own job's loop
        self._lock = threading.Lock()

    def expect(self, room: str) -> SessionRun:
        with self._lock:
            run = self.runs[room] = SessionRun(room)
        return run

    def providers(self, ctx: JobContext) -> Providers:
        devices = _Devices(
            ScriptedSTT(), ScriptedLLM(script=llm_script(self.scenario)), ScriptedTTS()
        )
        with self._lock:
            self._devices[ctx.job.room.name] = devices
        return Providers(llm=devices.llm, stt=devices.stt, tts=devices.tts, turn_detection="stt")

    def attach_io(self, ctx: JobContext, session: VoiceSession) -> Mapping[str, Any]:
        room = ctx.job.room.name
        with self._lock:
            devices = self._devices[room]
            run = self.runs[room]
        run.session = session
        run.llm = devices.llm
        microphone, speaker = attach_simulated_audio(session.agent_session, devices.stt.expect)

        user = SimulatedUser(session, microphone, speaker, devices.llm, self.scenario)

        async def converse() -> None:
            try:
                await user.run()
                await session.finished.wait()
            finally:
                run.user_stuck = user.stuck
                microphone.close()
                await speaker.aclose()

        task = asyncio.get_running_loop().create_task(converse(), name=f"simulated-user-{room}")
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {}

    def room_control(self, ctx: JobContext, settings: Settings) -> RoomControl:
        return self._room(ctx.job.room.name)

    def room_events(self, ctx: JobContext, caller: rtc.RemoteParticipant) -> RoomEvents:
        room = self._room(ctx.job.room.name)
        # The caller the mock room hands out, with the scenario's metadata: livekit's mock
        # participant is shared by every job of the process.
        metadata = self.scenario.participant_metadata_text()
        attributes = dict(self.scenario.participant_attributes)
        room.join(SimulatedParticipant(caller.identity, metadata, attributes))
        return room

    def _room(self, name: str) -> SimulatedRoom:
        with self._lock:
            run = self.runs[name]
            if run.live_room is None:
                run.live_room = self.rooms.room(name)
            return run.live_room

    def finished(self, room: str, stats: OutboxStats | None) -> None:
        """The job for ``room`` is over (``stats`` ``None``: it failed before its outbox
        opened, so there is nothing to wait for)."""
        with self._lock:
            run = self.runs.get(room)
        if run is not None:
            if stats is not None:
                run.outbox = stats
            run.done.set()
