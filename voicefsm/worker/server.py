"""The LiveKit worker that runs your agent: ``voicefsm start|dev`` and, for a module-level
``server = voicefsm.build_server(MyAgent)``, livekit's own ``python -m livekit.agents start``.

Both run the same :class:`VoiceFsmServer`, so both get the same settings, budgets, metrics and
start-up work: the interpreter guard, the provider check, and the delivery of what crashed jobs
left in the spool. Budgets: a job being shut down gets its farewell and flush deadlines plus a
margin before livekit kills its process (``shutdown_process_timeout``); a draining worker waits
``VOICEFSM_DRAIN_TIMEOUT_S`` for live calls, which must stay under the orchestrator's grace
period.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from livekit.agents import AgentServer, JobContext, TurnHandlingOptions

from voicefsm import livekit_compat
from voicefsm.agent.shared_state import UserdataFactory, WithUserdata
from voicefsm.engine.observers import Observers
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.observability.tracing import configure_from_env as configure_tracing_from_env
from voicefsm.persistence.commands import drain
from voicefsm.settings import Settings, check_worker, load_settings, read_settings
from voicefsm.worker.entrypoint import AgentFactory, run_job
from voicefsm.worker.interpreter_guard import install_interpreter_guard
from voicefsm.worker.startup import WorkerRefused, refuse_to_start

_LOG = logging.getLogger("voicefsm.worker")


@functools.cache
def process_metrics() -> PrometheusMetrics:
    """This process's metric families: Prometheus registries are per process by design."""
    return PrometheusMetrics()


async def production_entrypoint(
    ctx: JobContext, *, agent: AgentFactory, turns: TurnHandlingOptions | None = None
) -> None:
    """The job entrypoint in livekit's job processes (a module-level function, so that the
    server's entrypoint pickles by reference with the agent it runs)."""
    from voicefsm.providers.console import console_providers  # noqa: PLC0415 (job processes)
    from voicefsm.providers.real import build_providers  # noqa: PLC0415
    from voicefsm.worker.room_io import RoomPlumbing  # noqa: PLC0415

    settings = load_settings()
    configure_tracing_from_env()
    console = livekit_compat.console_enabled()
    providers = (console_providers if console else build_providers)(settings, turns)
    await run_job(
        ctx,
        agent=agent,
        plumbing=RoomPlumbing(providers),
        settings=settings,
        observers=Observers(metrics=process_metrics()),
    )


def prepare_job_process(_process: object) -> None:
    """livekit's ``setup_fnc``: run in each job process once, before its first job.

    What is loaded by then (livekit, the providers, the agent's modules, preloaded in the
    forkserver) lives as long as the process. Frozen out of the collector's reach, it is no
    longer scanned by every full collection during calls: at fifty calls in one process those
    scans were about 0.8 ms of CPU per turn (benchmarks/scale.py, gc figures)."""
    gc.collect()  # what is garbage now would be kept for good once frozen
    gc.freeze()


class VoiceFsmServer(AgentServer):
    """livekit's ``AgentServer`` for one voicefsm agent; what it adds happens in :meth:`run`."""

    def __init__(
        self,
        agent: AgentFactory,
        settings: Settings,
        *,
        invalid: Sequence[str] = (),
        **options: Any,  # noqa: ANN401
    ) -> None:
        super().__init__(**options)
        self.agent = agent
        self.settings = settings
        #: Settings refused when the server was built (their defaults stand in): :meth:`run`
        #: names them, with whatever else is missing, and does not start.
        self.invalid = tuple(invalid)
        #: The worker stopped on an error (livekit's CLI exits 0 all the same).
        self.failed = False
        self._started = False

    async def run(self, *, devmode: bool = False, unregistered: bool = False) -> None:
        try:
            install_interpreter_guard()
            _LOG.info(
                "voicefsm worker starting",
                extra={"agent": getattr(self.agent, "__qualname__", repr(self.agent))},
            )
            try:
                refuse_to_start(
                    self.settings,
                    self.invalid,
                    registered=not unregistered,
                    console=livekit_compat.console_enabled(),
                )
            except WorkerRefused:
                return  # logged; the process exits with status 2 (see refuse_to_start)
            if not unregistered:
                await drain_orphans(self.settings)
            self._started = True
            await super().run(devmode=devmode, unregistered=unregistered)
        except Exception:
            self.failed = True
            raise

    async def drain(self, timeout: Any = None) -> None:  # noqa: ANN401 (livekit's NotGivenOr)
        # livekit drains after run() failed, and a worker that never started has no process
        # pool to drain ("'VoiceFsmServer' object has no attribute '_proc_pool'").
        if self._started:
            await (super().drain() if timeout is None else super().drain(timeout))


def build_server(
    agent: AgentFactory,
    settings: Settings | None = None,
    *,
    turn_handling: TurnHandlingOptions | None = None,
    userdata: UserdataFactory | None = None,
) -> VoiceFsmServer:
    """The worker for ``agent`` (a ``VoiceAgent`` subclass, or any function returning a fresh
    ``VoiceAgent`` per call), configured from ``settings`` (default: the environment).

    Put the result in your ``agent.py`` as ``server`` and livekit's CLI runs it::

        server = voicefsm.build_server(MyAgent)   # python -m livekit.agents start agent.py

    ``turn_handling`` is livekit's own (``TurnHandlingOptions``), laid over what the settings
    say, section by section: ``{"turn_detection": inference.TurnDetector(), "interruption":
    {"min_words": 2}}``. ``userdata`` makes each call's shared state (a pydantic model or
    dataclass class, or a function of no arguments), livekit's ``RunContext[T].userdata``; it
    overrides the agent class's own ``userdata=``. Invalid settings do not raise here, at
    import: the worker names them when it starts, with everything else that is missing, and
    exits with status 2.
    """
    if userdata is not None:
        agent = WithUserdata(agent, userdata)
    invalid: list[str] = []
    if settings is None:
        settings, invalid = read_settings()
    # livekit's plugins register themselves on import, and only on the main thread: a job run
    # on a thread (livekit's console, THREAD executors) would otherwise import them there and
    # crash ("Plugins must be registered on the main thread").
    importlib.import_module("voicefsm.providers.real")
    # Job processes count their sessions; Prometheus's multiprocess mode (a fresh, empty
    # directory) is how livekit's metrics endpoint in the worker process collects them.
    multiproc = tempfile.mkdtemp(prefix="voicefsm-prometheus-") if settings.metrics_port else None
    options: dict[str, Any] = {
        "drain_timeout": int(settings.drain_timeout_s),
        "shutdown_process_timeout": settings.flush_deadline_s + 5.0,
        "max_retry": settings.livekit_max_retry,
        "prometheus_port": settings.metrics_port,
        "prometheus_multiproc_dir": multiproc,
        # Job processes fork from livekit's forkserver with these already imported.
        "preload_modules": ["voicefsm.worker.server", "voicefsm.providers.real"],
        "setup_fnc": prepare_job_process,
    }
    if settings.idle_processes is not None:
        options["num_idle_processes"] = settings.idle_processes
    if settings.health_port is not None:  # two workers on one host need two ports
        options["port"] = settings.health_port
    if settings.livekit_url is not None:
        options["ws_url"] = str(settings.livekit_url)
    for field, option in (("livekit_api_key", "api_key"), ("livekit_api_secret", "api_secret")):
        secret = getattr(settings, field)
        if secret is not None:
            options[option] = secret.get_secret_value()
    server = VoiceFsmServer(agent, settings, invalid=invalid, **options)
    entrypoint = functools.partial(production_entrypoint, agent=agent, turns=turn_handling)
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server


async def drain_orphans(settings: Settings) -> None:
    """Deliver what crashed jobs left in the spool before taking new jobs (bounded)."""
    if settings.backend_url is None or not settings.spool_path.exists():
        return
    drained = await drain(
        settings.spool_path,
        str(settings.backend_url),
        settings.backend_token,
        settings.flush_deadline_s,
    )
    _LOG.info("orphaned spool drained", extra=drained._asdict())


def run_worker(server: VoiceFsmServer, *, dev: bool, log_level: str) -> int:
    """``voicefsm start|dev``: run until stopped; 0 after a clean stop, 1 if the worker failed,
    2 (before livekit starts) when settings are missing."""
    check_worker(server.settings)  # raises ConfigurationError naming what is missing
    livekit_compat.run_worker(server, log_level=log_level, dev=dev)
    if server.failed:
        print("voicefsm: the worker failed (see the log above)", file=sys.stderr)
        return 1
    return 0
