"""``voicefsm start`` / ``voicefsm dev``: the LiveKit worker.

Budgets: a job being shut down gets ``VOICEFSM_FLUSH_DEADLINE_S`` to persist (its outbox flush)
plus a margin before livekit kills its process (``shutdown_process_timeout``); a draining worker
waits ``VOICEFSM_DRAIN_TIMEOUT_S`` for live calls, which must stay under the orchestrator's
grace period. Orphaned spool rows (a crashed job's writes) are delivered at worker start, and
every job's relay picks up whatever is left.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile

from livekit.agents import AgentServer, JobContext
from livekit.agents.cli import cli as lk_cli
from livekit.agents.cli import proto

from voicefsm.agent.entrypoint import JobDeps, run_job
from voicefsm.agent.interpreter_guard import install_interpreter_guard
from voicefsm.agent.plumbing import RoomPlumbing
from voicefsm.errors import ConfigurationError
from voicefsm.observability.metrics import SessionMetrics
from voicefsm.observability.tracing import configure_from_env as configure_tracing_from_env
from voicefsm.persistence.commands import drain
from voicefsm.providers.real import build_providers, load_provider_settings
from voicefsm.settings import Settings, load_settings

_LOG = logging.getLogger("voicefsm.worker")


_process_metrics: SessionMetrics | None = None


def process_metrics() -> SessionMetrics:
    """This process's metric families (Prometheus registries are per process by design)."""
    global _process_metrics  # noqa: PLW0603
    if _process_metrics is None:
        _process_metrics = SessionMetrics()
    return _process_metrics


async def production_entrypoint(ctx: JobContext) -> None:
    """The job entrypoint run in livekit's job processes (importable, hence module level)."""
    settings = load_settings()
    providers = build_providers(load_provider_settings())
    configure_tracing_from_env()
    deps = JobDeps(settings=settings, plumbing=RoomPlumbing(providers), metrics=process_metrics())
    await run_job(ctx, deps)


def check_worker_settings(settings: Settings) -> tuple[str, str, str]:
    """Fail fast, naming what is missing, before livekit starts (it would exit 0 on it)."""
    credentials = settings.livekit_credentials()
    if credentials is None:
        missing = [
            name
            for name, value in (
                ("LIVEKIT_URL", settings.livekit_url),
                ("LIVEKIT_API_KEY", settings.livekit_api_key),
                ("LIVEKIT_API_SECRET", settings.livekit_api_secret),
            )
            if value is None
        ]
        raise ConfigurationError("missing worker settings: " + ", ".join(missing) + " not set")
    load_provider_settings()  # raises naming the provider variables at fault
    url, key, secret = credentials
    return url, key.get_secret_value(), secret.get_secret_value()


def build_server(settings: Settings) -> AgentServer:
    url, key, secret = check_worker_settings(settings)
    # Job processes count their sessions; Prometheus's multiprocess mode (a fresh, empty
    # directory) is how livekit's metrics endpoint in the worker process collects them.
    multiproc = tempfile.mkdtemp(prefix="voicefsm-prometheus-") if settings.metrics_port else None
    server = AgentServer(
        ws_url=url,
        api_key=key,
        api_secret=secret,
        drain_timeout=int(settings.drain_timeout_s),
        shutdown_process_timeout=settings.flush_deadline_s + 5.0,
        max_retry=settings.livekit_max_retry,
        prometheus_port=settings.metrics_port,
        prometheus_multiproc_dir=multiproc,
    )
    server.rtc_session(production_entrypoint, agent_name=settings.agent_name)
    return server


def drain_orphans(settings: Settings) -> None:
    """Deliver what crashed jobs left in the spool before taking new jobs (bounded)."""
    if settings.backend_url is None or not settings.spool_path.exists():
        return
    delivered, pending, dead = asyncio.run(
        drain(
            settings.spool_path,
            str(settings.backend_url),
            settings.backend_token,
            settings.flush_deadline_s,
        )
    )
    _LOG.info(
        "orphaned spool drained",
        extra={"delivered": delivered, "pending": pending, "dead": dead},
    )


class _FailureWatch(logging.Handler):
    """livekit logs "worker failed" and returns normally; we turn that into an exit status."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "worker failed":
            self.failed = True


def run_worker(settings: Settings, *, dev: bool, log_level: str) -> int:
    """Run until stopped; 0 after a clean stop, 1 if the worker failed."""
    install_interpreter_guard()
    server = build_server(settings)
    drain_orphans(settings)
    watch = _FailureWatch()
    logging.getLogger("livekit.agents").addHandler(watch)
    try:
        lk_cli._run_worker(
            server,
            args=proto.CliArgs(
                log_level=log_level, log_format="colored" if dev else "json", dev=dev
            ),
        )
    finally:
        logging.getLogger("livekit.agents").removeHandler(watch)
    if watch.failed:
        print("voicefsm: the worker failed (see the log above)", file=sys.stderr)
        return 1
    return 0
