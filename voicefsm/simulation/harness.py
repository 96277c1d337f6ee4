"""The simulation's plumbing: per job, scripted providers (or the configured model) and
simulated devices instead of a LiveKit room, and a simulated caller driving the conversation.
The job itself runs the production entrypoint inside an unregistered ``AgentServer``
(``simulate_job`` with a mock room). Each room's job plays its own scenario."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import AgentSession, APIConnectOptions, JobContext
from livekit.agents import llm as lk_llm

from voicefsm.engine.participants import RoomEvents
from voicefsm.engine.room_control import RoomControl
from voicefsm.engine.session import VoiceSession
from voicefsm.lifecycle import EndReason
from voicefsm.livekit_compat import SessionConnectOptions
from voicefsm.persistence.outbox import OutboxStats
from voicefsm.providers import Providers
from voicefsm.providers.devices import attach_simulated_audio
from voicefsm.providers.fast_audio import attach_fast_audio
from voicefsm.providers.scripted import (
    ScriptedLLM,
    ScriptedSTT,
    ScriptedToolCall,
    ScriptedTTS,
    ScriptedTurn,
)
from voicefsm.settings import Settings
from voicefsm.simulation.model_caller import CallerOutcome, ModelCaller
from voicefsm.simulation.pacing import FastPacing, Pacing, RealTimePacing
from voicefsm.simulation.rooms import SimulatedParticipant, SimulatedRoom, SimulatedRooms
from voicefsm.simulation.scenario import Scenario
from voicefsm.simulation.user import Microphone, SimulatedUser, Speaker

#: Builds a model for one job (on the job's own thread and loop, where its client lives).
ModelFactory = Callable[[], lk_llm.LLM[Any]]
#: Fast mode's providers retry at once: a retry's wait is the clock's, not the scenario's.
_FAST_RETRIES = APIConnectOptions(retry_interval=0.0)


@dataclass(frozen=True)
class SimulationModels:
    """The models a simulation uses besides its scripts: the agent's (``None``: the scripted
    model), the one that plays a scenario's ``caller``, and the one that judges its
    ``expect.judge`` statements (built on the runner's own loop, after the calls)."""

    agent: ModelFactory | None = None
    caller: ModelFactory | None = None
    judge: ModelFactory | None = None


@dataclass
class SessionRun:
    """Everything one simulated job produced (filled in from the job's own thread)."""

    room: str
    scenario: Scenario | None = None
    #: What the run is called in reports (the scenario file, and the copy's number).
    label: str = ""
    session: VoiceSession | None = None
    #: The job's room: drive its participants from the job's loop (``session.agent_session``).
    live_room: SimulatedRoom | None = None
    #: The session's scripted LLM (what it was asked is in ``llm.chat_contexts``).
    llm: ScriptedLLM | None = None
    user_stuck: bool = False
    outbox: OutboxStats | None = None
    #: The conversation as the agent's model last saw it (livekit's chat context), for judges.
    chat_ctx: lk_llm.ChatContext | None = None
    caller: CallerOutcome | None = None
    #: The job's event loop, to end its call from another thread.
    loop: asyncio.AbstractEventLoop | None = None
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _ending: bool = field(default=False, repr=False)

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def ending(self) -> bool:
        """True once :meth:`end_call` was asked (it is asked once)."""
        return self._ending

    def end_call(self) -> None:
        """End the call now, from any thread (a stop request): the caller leaves, and the call
        is persisted."""
        session, loop = self.session, self.loop
        self._ending = True
        if session is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_end_quietly, session)


def _end_quietly(session: VoiceSession) -> None:
    # The simulated caller leaves with the simulation: nobody is left to hear a farewell.
    if not session.lifecycle.is_finished:
        session.end(EndReason.PARTICIPANT_LEFT)


class _Closable(Microphone, Protocol):
    def close(self) -> None: ...


class _Playing(Speaker, Protocol):
    async def aclose(self) -> None: ...


#: A session's devices: microphone, speaker, the caller's clock, and how to hear of changes.
_Attached = tuple[_Closable, _Playing, Pacing, Callable[[Callable[[], None]], None]]


@dataclass
class _Devices:
    stt: ScriptedSTT
    llm: lk_llm.LLM[Any]
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
    """``scenario`` is played in every room not given one of its own (:meth:`expect`).
    ``fast``: devices on a clock that does not wait (see :mod:`voicefsm.providers.fast_audio`)."""

    def __init__(
        self,
        scenario: Scenario,
        rooms: SimulatedRooms | None = None,
        *,
        fast: bool = False,
        models: SimulationModels | None = None,
    ) -> None:
        self.scenario = scenario
        self.rooms = rooms or SimulatedRooms()
        self.fast = fast
        self.models = models or SimulationModels()
        self.runs: dict[str, SessionRun] = {}
        self._devices: dict[str, _Devices] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # each on its own job's loop
        self._lock = threading.Lock()

    def expect(self, room: str, scenario: Scenario | None = None, *, label: str = "") -> SessionRun:
        with self._lock:
            run = self.runs[room] = SessionRun(room, scenario or self.scenario, label or room)
        return run

    def _run(self, room: str) -> SessionRun:
        with self._lock:
            return self.runs[room]

    def scenario_of(self, room: str) -> Scenario:
        with self._lock:
            run = self.runs.get(room)
        return run.scenario if run is not None and run.scenario is not None else self.scenario

    def providers(self, ctx: JobContext) -> Providers:
        scenario = self.scenario_of(ctx.job.room.name)
        model = (
            self.models.agent() if self.models.agent else ScriptedLLM(script=llm_script(scenario))
        )
        if self.fast and isinstance(model, ScriptedLLM):
            model.ttft_s, model.words_per_s = 0.0, float("inf")
        devices = _Devices(ScriptedSTT(), model, ScriptedTTS(ttfb_s=0.0 if self.fast else 0.08))
        with self._lock:
            self._devices[ctx.job.room.name] = devices
        fast = _FAST_RETRIES if self.fast else None
        return Providers(
            llm=devices.llm,
            stt=devices.stt,
            tts=devices.tts,
            turn_detection="stt",
            # On the fast clock there is no silence to wait for: the turn ends where speech does.
            min_endpointing_delay_s=0.0 if self.fast else 0.5,
            conn_options=SessionConnectOptions(fast, fast, fast) if fast else None,
            # Simulated devices never echo the agent: nothing to warm up for.
            echo_cancellation_warmup=False,
        )

    def attach_io(self, ctx: JobContext, session: VoiceSession) -> Mapping[str, Any]:
        room = ctx.job.room.name
        with self._lock:
            devices = self._devices[room]
        run = self._run(room)
        scenario = run.scenario or self.scenario
        run.session, run.loop = session, asyncio.get_running_loop()
        run.llm = devices.llm if isinstance(devices.llm, ScriptedLLM) else None
        agent_session = session.agent_session
        devices_for = self._fast_devices if self.fast else self._real_time_devices
        microphone, speaker, pacing, watch = devices_for(agent_session, devices.stt)
        caller = None
        if scenario.caller is not None and self.models.caller is not None:
            caller = ModelCaller(self.models.caller(), scenario.caller)
            run.caller = caller.outcome
        user = SimulatedUser(
            session,
            microphone,
            speaker,
            run.llm,
            scenario,
            pacing=pacing,
            caller=caller,
            poll_s=0.01 if self.fast else 0.05,
        )
        watch(user.nudge)

        async def converse() -> None:
            try:
                await user.run()
                await session.finished.wait()
            finally:
                run.user_stuck = user.stuck
                run.chat_ctx = agent_session.history.copy()
                microphone.close()
                await speaker.aclose()

        task = asyncio.get_running_loop().create_task(converse(), name=f"simulated-user-{room}")
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {}

    @staticmethod
    def _real_time_devices(agent_session: AgentSession[Any], stt: ScriptedSTT) -> _Attached:
        microphone, speaker = attach_simulated_audio(agent_session, stt.expect)
        return microphone, speaker, RealTimePacing(speaker), lambda _nudge: None

    @staticmethod
    def _fast_devices(agent_session: AgentSession[Any], stt: ScriptedSTT) -> _Attached:
        microphone, speaker = attach_fast_audio(agent_session, stt.expect)
        return microphone, speaker, FastPacing(speaker, agent_session), speaker.watch

    def room_control(self, ctx: JobContext, settings: Settings) -> RoomControl:
        return self._room(ctx.job.room.name)

    def room_events(self, ctx: JobContext, caller: rtc.RemoteParticipant) -> RoomEvents:
        name = ctx.job.room.name
        room = self._room(name)
        # The caller the mock room hands out, with the scenario's metadata: livekit's mock
        # participant is shared by every job of the process.
        scenario = self.scenario_of(name)
        metadata = scenario.participant_metadata_text()
        attributes = dict(scenario.participant_attributes)
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
            if run.finished_at is None:
                run.finished_at = time.monotonic()
            run.done.set()
