"""``voicefsm start|dev|simulate``: running an agent, for real or offline.

Without ``--agent`` they run the example agent (:mod:`voicefsm.examples.bistro`).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from voicefsm.cli.common import NO_BACKEND, backend_installed, fail, ready_or_exit, settings_or_exit
from voicefsm.errors import ConfigurationError
from voicefsm.settings import (
    data_directory,
    read_settings,
    spool_directory,
    worker_problems,
)

EXAMPLE_AGENT = "voicefsm.examples.bistro:BistroAgent"


def _agent(command: str, spec: str | None) -> object:
    """The agent factory ``--agent`` names, or an exit status after one line saying why not."""
    from voicefsm.worker.loading import AgentLoadError, load_agent  # noqa: PLC0415 (livekit)

    try:
        return load_agent(spec or EXAMPLE_AGENT)
    except AgentLoadError as exc:
        return fail(command, str(exc))


def run_worker_command(args: argparse.Namespace) -> int:
    # Before livekit is even imported: every invalid and missing setting, in one line.
    try:
        settings, invalid = read_settings()
    except ConfigurationError as exc:
        return fail(args.command, str(exc))
    problems = worker_problems(settings, invalid)
    if problems:
        return fail(args.command, "cannot start the worker: " + "; ".join(problems))
    ready_or_exit(args.command, lambda: spool_directory(settings))
    agent = _agent(args.command, args.agent)
    if isinstance(agent, int):
        return agent
    from voicefsm.worker.server import build_server, run_worker  # noqa: PLC0415

    server = build_server(agent, settings)  # type: ignore[arg-type]
    return run_worker(server, dev=args.command == "dev", log_level=args.log_level)


def run_simulate(args: argparse.Namespace) -> int:
    from voicefsm.cli.files import write_timelines  # noqa: PLC0415
    from voicefsm.simulation import report  # noqa: PLC0415
    from voicefsm.simulation.runner import simulate  # noqa: PLC0415
    from voicefsm.simulation.scenario import ScenarioError, load_scenario  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario, example=args.agent is None)
    except ScenarioError as exc:
        return fail("simulate", str(exc))
    if args.data_dir is not None:
        # Both of simulate's files move: its spool and its embedded backend's database.
        spool = args.data_dir / "outbox.sqlite3"
        settings = settings_or_exit("simulate", data_dir=args.data_dir, spool_path=spool)
    else:
        settings = settings_or_exit("simulate")
    ready_or_exit("simulate", lambda: data_directory(settings), lambda: spool_directory(settings))
    if args.backend_url:
        try:
            url = TypeAdapter(AnyHttpUrl).validate_python(args.backend_url)
        except ValidationError:
            return fail("simulate", "--backend-url is not an http(s) URL")
        settings = settings.model_copy(update={"backend_url": url})
    if settings.backend_url is None and not backend_installed():
        return fail("simulate", NO_BACKEND + " (or give --backend-url)")
    agent = _agent("simulate", args.agent)
    if isinstance(agent, int):
        return agent

    def live(room: str, entry: object) -> None:
        print(report.transition_line(room, entry), flush=True)  # type: ignore[arg-type]

    result = asyncio.run(
        simulate(
            scenario,
            settings,
            sessions=args.sessions,
            on_line=None if args.json else live,
            agent=agent,  # type: ignore[arg-type]
        )
    )
    if args.timeline_dir is not None:
        write_timelines(args.timeline_dir, result.sessions)
    if args.json:
        print(json.dumps({"backend_url": result.backend_url, "sessions": result.sessions}))
    else:
        print(report.summary(result.sessions, result.backend_url))
    return 0 if result.ok else 1


__all__ = ["EXAMPLE_AGENT", "run_simulate", "run_worker_command"]
