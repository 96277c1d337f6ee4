"""``voicefsm start|dev``: running an agent as a LiveKit worker (``simulate`` runs it offline:
:mod:`voicefsm.cli.simulating`).

Without ``--agent`` they run the example agent (:mod:`voicefsm.examples.bistro`).
"""

from __future__ import annotations

import argparse

from voicefsm.cli.common import fail, settings_or_exit
from voicefsm.errors import ConfigurationError
from voicefsm.settings import check_worker

EXAMPLE_AGENT = "voicefsm.examples.bistro:BistroAgent"


def agent_factory(command: str, spec: str | None) -> object:
    """The agent factory ``--agent`` names, or an exit status after one line saying why not."""
    from voicefsm.runtime.loading import AgentLoadError, load_agent  # noqa: PLC0415 (livekit)

    try:
        return load_agent(spec or EXAMPLE_AGENT)
    except AgentLoadError as exc:
        return fail(command, str(exc))


def run_worker_command(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    try:
        check_worker(settings)  # before livekit is even imported: a mistake is reported at once
    except ConfigurationError as exc:
        return fail(args.command, str(exc))
    agent = agent_factory(args.command, args.agent)
    if isinstance(agent, int):
        return agent
    from voicefsm.runtime.worker import build_server, run_worker  # noqa: PLC0415

    server = build_server(agent, settings)  # type: ignore[arg-type]
    return run_worker(server, dev=args.command == "dev", log_level=args.log_level)


__all__ = ["EXAMPLE_AGENT", "agent_factory", "run_worker_command"]
