"""``voicefsm simulate``: whole sessions through the production worker path, offline.

An unregistered ``AgentServer`` (thread executor) runs the production entrypoint for each
session via ``simulate_job(fake_job=True)``; LiveKit's mock room stands in for the room. Room
metadata travels as the job's room info, exactly as the worker reads it; participant metadata
and attributes sit on the simulated room's participant. Without a backend URL the reference
backend runs embedded. Many scenarios run through one worker and one backend, at most
``concurrency`` sessions at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from voicefsm.agent.definition import VoiceAgent
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.persistence.outbox import CommitListener
from voicefsm.settings import Settings
from voicefsm.simulation.harness import SessionRun, SimulationModels, SimulationPlumbing
from voicefsm.simulation.judging import judge_call
from voicefsm.simulation.report import session_report
from voicefsm.simulation.scenario import Scenario
from voicefsm.simulation.serving import (
    SESSION_TIMEOUT_S,
    Line,
    Observing,
    Planned,
    backend_for,
    room_prefix,
    serve,
)
from voicefsm.simulation.stopping import StopRequest
from voicefsm.worker.entrypoint import AgentFactory
from voicefsm.worker.interpreter_guard import install_interpreter_guard

__all__ = ["SESSION_TIMEOUT_S", "SimulationResult", "passed", "simulate", "simulate_suite"]


@dataclass(frozen=True)
class SimulationResult:
    backend_url: str | None
    sessions: list[dict[str, Any]]
    #: The signal that stopped the run early (SIGINT, SIGTERM), if one did.
    stopped_by: int | None = None

    @property
    def ok(self) -> bool:
        """Every session passed (a stopped run's calls too, when they ended well)."""
        return all(passed(s) for s in self.sessions)


def passed(session: dict[str, Any]) -> bool:
    """A session passes when it exited, its caller never got stuck, the backend refused none
    of its writes, and every expectation held."""
    return (
        session["final_state"] == "exiting"
        and not session["stuck"]
        and not session["outbox"]["dead"]
        and all(expectation["ok"] for expectation in session.get("expectations", ()))
    )


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
    fast: bool = False,
    models: SimulationModels | None = None,
    stop: StopRequest | None = None,
) -> SimulationResult:
    """Run ``sessions`` copies of ``scenario`` concurrently (one in each of ``room_names`` when
    given); returns each session's report.

    ``on_commit`` is told the idempotency keys of each batch of writes the moment it is
    acknowledged (committed to the spool; on the outbox's writer thread). SIGTERM or SIGINT
    (when run on the main thread; or ``stop``, requested from elsewhere) ends every call at
    once, persisted; a second signal stops waiting for that. ``plumbing`` (built for this
    scenario) lets a caller look at each run's session and scripted providers afterwards
    (``plumbing.runs``); its ``rooms`` outlive the run, so a second run in the same
    ``room_names`` finds what the first wrote into them. ``agent`` makes each session's agent.
    ``fast``: devices on a clock that does not wait; ``models``: the configured model for the
    agent, the caller and the judge (see :class:`SimulationModels`).
    """
    prefix = room_prefix()
    names = room_names or [f"{prefix}-{index}" for index in range(sessions)]
    plan = [Planned(name, scenario, name) for name in names]
    sim = plumbing or SimulationPlumbing(scenario, fast=fast, models=models)
    observing = Observing(on_line, metrics, tracer, on_commit, metrics_port)
    return await _simulate_plan(
        plan, settings, sim=sim, agent=agent, observing=observing, concurrency=len(plan), stop=stop
    )


async def simulate_suite(
    scenarios: Sequence[tuple[str, Scenario]],
    settings: Settings,
    *,
    sessions: int = 1,
    concurrency: int = 8,
    fast: bool = False,
    models: SimulationModels | None = None,
    agent: AgentFactory = VoiceAgent,
    on_line: Line | None = None,
    on_finished: Callable[[SessionRun], None] | None = None,
    stop: StopRequest | None = None,
) -> SimulationResult:
    """Run each ``(label, scenario)`` (``sessions`` copies of each), at most ``concurrency``
    sessions at a time, all through one worker and one backend; ``on_finished`` gets each
    session's report as soon as it is over."""
    if not scenarios:
        msg = "no scenarios to run"
        raise ValueError(msg)
    prefix = room_prefix()
    plan = [
        Planned(label if sessions == 1 else f"{label} #{copy + 1}", scenario, f"{prefix}-{n}")
        for n, (label, scenario, copy) in enumerate(
            (label, scenario, copy) for label, scenario in scenarios for copy in range(sessions)
        )
    ]
    sim = SimulationPlumbing(scenarios[0][1], fast=fast, models=models)
    observing = Observing(on_line, on_finished=on_finished)
    return await _simulate_plan(
        plan,
        settings,
        sim=sim,
        agent=agent,
        observing=observing,
        concurrency=concurrency,
        stop=stop,
    )


def _models_needed(plan: Sequence[Planned], models: SimulationModels) -> None:
    for item in plan:
        if item.scenario.caller is not None and models.caller is None:
            msg = f"{item.label}: a model-played caller needs a model (SimulationModels.caller)"
            raise ValueError(msg)
        if item.scenario.expect and item.scenario.expect.judge and models.judge is None:
            msg = f"{item.label}: judged expectations need a model (SimulationModels.judge)"
            raise ValueError(msg)


async def _simulate_plan(
    plan: Sequence[Planned],
    settings: Settings,
    *,
    sim: SimulationPlumbing,
    agent: AgentFactory,
    observing: Observing,
    concurrency: int,
    stop: StopRequest | None,
) -> SimulationResult:
    _models_needed(plan, sim.models)
    install_interpreter_guard()
    logging.getLogger("livekit").setLevel(max(logging.WARNING, logging.getLogger().level))
    own_stop = stop is None
    stop = stop or StopRequest()
    if own_stop:
        stop.install()
    try:
        with backend_for(settings) as url:
            settings = settings.model_copy(update={"backend_url": url})
            runs = await serve(
                plan,
                settings,
                sim=sim,
                agent=agent,
                observing=observing,
                concurrency=concurrency,
                stop=stop,
            )
            reports = []
            for run in runs:
                report = session_report(run, settings.spool_path)
                report["clock"] = "fast" if sim.fast else "real time"
                reports.append(report)
            if not stop.requested.is_set():
                await _judge(runs, reports, sim.models, concurrency)
            started = {run.room for run in runs}
            reports += [_not_run(item) for item in plan if item.room not in started]
            return SimulationResult(url, reports, stop.signal if stop.requested.is_set() else None)
    finally:
        if own_stop:
            stop.remove()


def _not_run(item: Planned) -> dict[str, Any]:
    """A planned session the run was stopped before starting."""
    return {"scenario": item.label, "room": item.room, "final_state": "not run", "stuck": False}


async def _judge(
    runs: Sequence[SessionRun],
    reports: list[dict[str, Any]],
    models: SimulationModels,
    concurrency: int,
) -> None:
    """Grade every run's judged statements with the judge model (built on this loop)."""
    wanted = [
        (run, report)
        for run, report in zip(runs, reports, strict=True)
        if run.scenario and run.scenario.expect and run.scenario.expect.judge
    ]
    if not wanted or models.judge is None:
        return
    model = models.judge()
    bound = asyncio.Semaphore(max(1, concurrency))

    async def grade(run: SessionRun, report: dict[str, Any]) -> None:
        statements = run.scenario.expect.judge if run.scenario and run.scenario.expect else []
        async with bound:
            checks = await judge_call(model, run.chat_ctx, statements)
        report["expectations"].extend(checks)

    try:
        await asyncio.gather(*(grade(run, report) for run, report in wanted))
    finally:
        await model.aclose()
