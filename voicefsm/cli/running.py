"""``voicefsm start|dev``: running an agent as a LiveKit worker (``simulate`` runs it offline:
:mod:`voicefsm.cli.simulating`).

Without ``--agent`` they run the example agent (:mod:`voicefsm.examples.bistro`).
"""

from __future__ import annotations

import argparse

from voicefsm.cli.common import fail, ready_or_exit
from voicefsm.errors import ConfigurationError
from voicefsm.settings import (
    read_settings,
    spool_directory,
    worker_problems,
)

EXAMPLE_AGENT = "voicefsm.examples.bistro:BistroAgent"


def agent_factory(command: str, spec: str | None) -> object:
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
    agent = agent_factory(args.command, args.agent)
    if isinstance(agent, int):
        return agent
    from voicefsm.worker.server import build_server, run_worker  # noqa: PLC0415

    server = build_server(agent, settings)  # type: ignore[arg-type]
    return run_worker(server, dev=args.command == "dev", log_level=args.log_level)


__all__ = ["EXAMPLE_AGENT", "agent_factory", "run_worker_command"]
