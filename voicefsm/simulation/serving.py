"""Serving a simulation: one unregistered ``AgentServer`` (thread executor) runs the production
entrypoint for each planned session via ``simulate_job(fake_job=True)``, at most
``concurrency`` at a time, beside the backend (embedded unless one is given); a stop request
ends every call at once and waits for each to be persisted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from livekit.agents import AgentServer, JobContext, JobExecutorType
from livekit.protocol import models
from opentelemetry.trace import Tracer

from voicefsm.engine.observers import Observers
from voicefsm.engine.session import VoiceSession
from voicefsm.lifecycle import TimelineEntry
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.persistence.outbox import CommitListener
from voicefsm.settings import Settings, embedded_database
from voicefsm.simulation.harness import SessionRun, SimulationPlumbing
from voicefsm.simulation.rooms import SimulatedRooms
from voicefsm.simulation.scenario import Scenario
from voicefsm.simulation.stopping import StopRequest
from voicefsm.worker.entrypoint import AgentFactory, run_job

#: The longest one session may take before the simulated caller's call is ended for it.
SESSION_TIMEOUT_S = 600.0
#: The longest livekit may take to start a session's job; one it never starts is reported as
#: "not started" (a failed run) instead of being waited for for ever.
START_TIMEOUT_S = 120.0
_POLL_S = 0.02
Line = Callable[[str, TimelineEntry], None]
_LOG = logging.getLogger("voicefsm.simulate")


@dataclass(frozen=True)
class Planned:
    """One session to run: its label in reports, its scenario, its room."""

    label: str
    scenario: Scenario
    room: str


@dataclass(frozen=True)
class Observing:
    on_line: Line | None = None
    metrics: PrometheusMetrics | None = None
    tracer: Tracer | None = None
    on_commit: CommitListener | None = None
    metrics_port: int | None = None
    on_finished: Callable[[SessionRun], None] | None = None


def room_prefix() -> str:
    """Room names unique to this run (rooms outlive sessions, as on a server)."""
    return f"sim-{int(time.time() * 1000) % 10**8}"


@contextmanager
def backend_for(settings: Settings) -> Iterator[str | None]:
    """The settings' backend, or the embedded one for as long as the block runs."""
    if settings.backend_url is not None:
        yield str(settings.backend_url)
        return
    from voicefsm.backend.server.limits import ServerLimits  # noqa: PLC0415 (only embedded)
    from voicefsm.backend.server.runner import running_backend, throwaway_secret  # noqa: PLC0415

    database = embedded_database(settings)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with running_backend(
        f"sqlite:///{database}",
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


def _printing(room: str, on_line: Line) -> Callable[[VoiceSession], None]:
    def subscribe(session: VoiceSession) -> None:
        session.lifecycle.subscribe(lambda entry: on_line(room, entry))

    return subscribe


async def serve(
    plan: Sequence[Planned],
    settings: Settings,
    *,
    sim: SimulationPlumbing,
    agent: AgentFactory,
    observing: Observing,
    concurrency: int,
    stop: StopRequest,
) -> list[SessionRun]:
    """Run ``plan`` through one unregistered worker; returns the runs that started."""
    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD,
        num_idle_processes=0,
        port=0,
        shutdown_process_timeout=settings.flush_deadline_s + 5,
        prometheus_port=observing.metrics_port,
    )
    on_line = observing.on_line

    async def entrypoint(ctx: JobContext) -> None:
        room = ctx.job.room.name
        listeners = [] if on_line is None else [_printing(room, on_line)]
        observers = Observers(
            tracer=observing.tracer,
            metrics=observing.metrics,
            on_commit=observing.on_commit,
            on_session=listeners,
            on_closed=[lambda _session, stats: sim.finished(room, stats)],
        )
        try:
            await run_job(ctx, agent=agent, plumbing=sim, settings=settings, observers=observers)
        finally:
            # A job that fails before its session opens (an agent that cannot be made)
            # is over too: the run must not wait out SESSION_TIMEOUT_S for it.
            sim.finished(room, None)

    server.rtc_session(entrypoint)
    started = asyncio.Event()
    server.once("worker_started", lambda *_: started.set())
    worker = asyncio.create_task(server.run(devmode=True, unregistered=True))
    runs: list[SessionRun] = []
    try:
        while not started.is_set() and not stop.requested.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(started.wait(), _POLL_S * 5)
        if not stop.requested.is_set():
            await _schedule(
                plan,
                server,
                sim=sim,
                concurrency=concurrency,
                stop=stop,
                runs=runs,
                on_finished=observing.on_finished,
            )
        if stop.requested.is_set():
            await _end_everything(runs, stop, settings.shutdown_budget_s)
    finally:
        await server.aclose()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker
    return runs


async def _schedule(
    plan: Sequence[Planned],
    server: AgentServer,
    *,
    sim: SimulationPlumbing,
    concurrency: int,
    stop: StopRequest,
    runs: list[SessionRun],
    on_finished: Callable[[SessionRun], None] | None,
) -> None:
    """Start each planned session as a place frees up, until all are done or a stop."""
    waiting = deque(plan)
    active: list[SessionRun] = []
    while (waiting or active) and not stop.requested.is_set():
        while waiting and len(active) < max(1, concurrency) and not stop.requested.is_set():
            item = waiting.popleft()
            run = sim.expect(item.room, item.scenario, label=item.label)
            runs.append(run)
            active.append(run)
            metadata = _room_metadata(item.scenario, sim.rooms, item.room)
            room = models.Room(sid=f"RM_{item.room}", name=item.room, metadata=metadata)
            await server.simulate_job(item.room, fake_job=True, room_info=room)
        await asyncio.sleep(_POLL_S)
        for run in [run for run in active if run.done.is_set()]:
            active.remove(run)
            if on_finished is not None:
                on_finished(run)
        for run in active:
            if run.session is None and run.duration_s > START_TIMEOUT_S:
                _LOG.error("a simulated session never started", extra={"room": run.room})
                run.finished_at = time.monotonic()
                run.done.set()
            elif run.duration_s > SESSION_TIMEOUT_S and not run.ending:
                run.end_call()


async def _end_everything(runs: Sequence[SessionRun], stop: StopRequest, budget_s: float) -> None:
    """A stop: every call ends now (the caller hangs up), each is persisted within its budget
    unless a second signal says not to wait."""
    live = [run for run in runs if not run.done.is_set()]
    _LOG.warning("stop requested: ending the calls in progress", extra={"calls": len(live)})
    for run in live:
        run.end_call()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    while any(not run.done.is_set() for run in live) and not stop.hurried.is_set():
        if loop.time() > deadline:
            break
        await asyncio.sleep(_POLL_S)
