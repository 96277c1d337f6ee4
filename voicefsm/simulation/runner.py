"""``voicefsm simulate``: whole sessions through the production worker path, offline.

An unregistered ``AgentServer`` (thread executor) runs the production entrypoint for each
session via ``simulate_job(fake_job=True)``; LiveKit's mock room stands in for the room. Room
metadata travels as the job's room info, exactly as the worker reads it; participant metadata
sits on the mock room's participant. Without a backend URL the reference backend runs embedded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentServer, JobContext, JobExecutorType
from livekit.protocol import models
from opentelemetry.trace import Tracer

from voicefsm import livekit_compat
from voicefsm.agent.definition import VoiceAgent
from voicefsm.engine.observers import Observers
from voicefsm.engine.session import VoiceSession
from voicefsm.lifecycle import TimelineEntry
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.persistence.outbox import CommitListener
from voicefsm.settings import Settings
from voicefsm.simulation.harness import SessionRun, SimulationPlumbing
from voicefsm.simulation.report import session_report
from voicefsm.simulation.rooms import SimulatedRooms
from voicefsm.simulation.scenario import Scenario
from voicefsm.worker.entrypoint import AgentFactory, run_job
from voicefsm.worker.interpreter_guard import install_interpreter_guard

SESSION_TIMEOUT_S = 600.0
Line = Callable[[str, TimelineEntry], None]
_LOG = logging.getLogger("voicefsm.simulate")


@dataclass(frozen=True)
class SimulationResult:
    backend_url: str | None
    sessions: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(
            s["final_state"] == "exiting"
            and not s["stuck"]
            and not s["outbox"]["dead"]
            and all(expectation["ok"] for expectation in s.get("expectations", ()))
            for s in self.sessions
        )


@contextmanager
def _backend(settings: Settings) -> Iterator[str | None]:
    if settings.backend_url is not None:
        yield str(settings.backend_url)
        return
    from voicefsm.backend.server.limits import ServerLimits  # noqa: PLC0415 (only embedded)
    from voicefsm.backend.server.runner import running_backend, throwaway_secret  # noqa: PLC0415

    directory = settings.data_dir / "simulate"  # --data-dir, VOICEFSM_DATA_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with running_backend(
        f"sqlite:///{directory / 'backend.sqlite3'}",
        token=settings.backend_token,
        limits=ServerLimits.from_settings(settings),  # the same VOICEFSM_BACKEND_* as `backend`
        caller_secret=settings.backend_caller_key_secret or throwaway_secret(),
    ) as url:
        yield url


def _room_metadata(scenario: Scenario, rooms: SimulatedRooms, name: str) -> str:
    """The room's metadata as a LiveKit server holds it: what was last written into a room that
    exists (an earlier session's conversation id included), else the scenario's. A room that
    names no conversation gets one from the agent itself, as in production."""
    existing = rooms.read(name)
    if existing is None:
        existing = scenario.room_metadata_text()
        rooms.write(name, existing)
    return existing


class _StopRequest:
    """SIGTERM/SIGINT handling for a simulation run on the main thread (elsewhere, a no-op)."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self._installed = False

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._signalled)
        except (RuntimeError, ValueError):  # not the main thread: the caller owns signals
            return
        self._installed = True

    def remove(self) -> None:
        if self._installed:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self._installed = False

    def _signalled(self) -> None:
        if self.requested.is_set():
            self.hurry.set()
            return
        _LOG.warning("stop requested: draining live sessions")
        self.requested.set()


async def _until_done_or_stopped(
    runs: list[SessionRun], stop: _StopRequest, server: AgentServer, drain_timeout_s: float
) -> None:
    """Wait for every session to exit; on a stop request, give them ``drain_timeout_s`` (as
    a draining worker does) before the server's close ends and persists whatever is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SESSION_TIMEOUT_S
    while not all(run.done.is_set() for run in runs) and loop.time() < deadline:
        if stop.requested.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.requested.wait(), 0.1)
    if not stop.requested.is_set():
        return
    drain = asyncio.create_task(server.drain(timeout=max(1, round(drain_timeout_s))))
    hurry = asyncio.create_task(stop.hurry.wait())
    await asyncio.wait({drain, hurry}, return_when=asyncio.FIRST_COMPLETED)
    for task in (drain, hurry):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await task


def _printing(room: str, on_line: Line) -> Callable[[VoiceSession], None]:
    def subscribe(session: VoiceSession) -> None:
        session.lifecycle.subscribe(lambda entry: on_line(room, entry))

    return subscribe


async def simulate(
    scenario: Scenario,
    settings: Settings,
    *,
    sessions: int = 1,
    on_line: Line | None = None,
    metrics: PrometheusMetrics | None = None,
    tracer: Tracer | None = None,
    metrics_port: int | None = None,
    on_commit: CommitListener | None = None,
    plumbing: SimulationPlumbing | None = None,
    agent: AgentFactory = VoiceAgent,
    room_names: Sequence[str] | None = None,
) -> SimulationResult:
    """Run ``sessions`` copies of ``scenario`` concurrently (one in each of ``room_names`` when
    given); returns each session's report.

    ``on_commit`` is told the idempotency keys of each batch of writes the moment it is
    acknowledged (committed to the spool; on the outbox's writer thread). SIGTERM or SIGINT
    (when run on the main thread) stops the run the way a worker stops: live sessions get
    ``drain_timeout_s`` to finish, then are ended and persisted; a second signal skips the wait.
    ``plumbing`` (built for this scenario) lets a caller look at each run's session and
    scripted providers afterwards (``plumbing.runs``); its ``rooms`` outlive the run, so a
    second run in the same ``room_names`` finds what the first wrote into them. ``agent`` makes
    each session's agent.
    """
    install_interpreter_guard()
    logging.getLogger("livekit").setLevel(logging.WARNING)
    with _backend(settings) as url:
        settings = settings.model_copy(update={"backend_url": url})
        sim = plumbing or SimulationPlumbing(scenario)

        server = AgentServer(
            job_executor_type=JobExecutorType.THREAD,
            num_idle_processes=0,
            port=0,
            shutdown_process_timeout=settings.flush_deadline_s + 5,
            prometheus_port=metrics_port,
        )

        async def entrypoint(ctx: JobContext) -> None:
            room = ctx.job.room.name
            listeners = [] if on_line is None else [_printing(room, on_line)]
            observers = Observers(
                tracer=tracer,
                metrics=metrics,
                on_commit=on_commit,
                on_session=listeners,
                on_closed=[lambda _session, stats: sim.finished(room, stats)],
            )
            try:
                await run_job(
                    ctx, agent=agent, plumbing=sim, settings=settings, observers=observers
                )
            finally:
                # A job that fails before its session opens (an agent that cannot be made)
                # is over too: the run must not wait out SESSION_TIMEOUT_S for it.
                sim.finished(room, None)

        server.rtc_session(entrypoint)
        livekit_compat.mock_room_participant().metadata = scenario.participant_metadata_text()

        stop = _StopRequest()
        stop.install()
        started = asyncio.Event()
        server.once("worker_started", lambda *_: started.set())
        worker = asyncio.create_task(server.run(devmode=True, unregistered=True))
        try:
            await asyncio.wait_for(started.wait(), 30)
            prefix = f"sim-{int(time.time() * 1000) % 10**8}"
            names = room_names or [f"{prefix}-{index}" for index in range(sessions)]
            runs = []
            for name in names:
                runs.append(sim.expect(name))
                metadata = _room_metadata(scenario, sim.rooms, name)
                room = models.Room(sid=f"RM_{name}", name=name, metadata=metadata)
                await server.simulate_job(name, fake_job=True, room_info=room)
            await _until_done_or_stopped(runs, stop, server, settings.drain_timeout_s)
        finally:
            await server.aclose()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
            stop.remove()
        reports = [session_report(run, settings.spool_path, scenario.expect) for run in runs]
        return SimulationResult(url, reports)
