"""The ``voicefsm`` command line: one module per kind of command, this one ties them together."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence
from pathlib import Path

from voicefsm.cli.common import agent_option, http_status, http_url, seconds
from voicefsm.cli.files import run_diagrams, run_timeline
from voicefsm.cli.files import write_timelines as _write_timelines
from voicefsm.cli.running import EXAMPLE_AGENT, run_worker_command
from voicefsm.cli.scenarios import add_scenario_command
from voicefsm.cli.services import run_backend, run_outbox
from voicefsm.cli.simulating import add_simulate_command
from voicefsm.ids import ConversationId, SessionId

__all__ = ["_write_timelines", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicefsm",
        description="LiveKit voice agents with an explicit, guarded session lifecycle.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    draw = commands.add_parser(
        "diagrams",
        help="draw the lifecycle (Mermaid, DOT, SVG, README) and print it",
        description="Generate diagrams/ from the lifecycle table, or check it is up to date.",
    )
    draw.add_argument(
        "--out", type=Path, default=Path("diagrams"), help="directory (default: diagrams)"
    )
    draw.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if a file differs from what the code generates",
    )
    draw.add_argument("-q", "--quiet", action="store_true", help="do not print the lifecycle")
    agent_option(draw, "the lifecycle alone, no agent")
    draw.add_argument(
        "--flow",
        metavar="FILE.yaml|MODULE:ATTR",
        help="draw a conversation flow on its own: a flow file, or a Flow class",
    )
    draw.set_defaults(handler=run_diagrams)

    backend = commands.add_parser(
        "backend",
        help="run the reference backend (SQLite by default, PostgreSQL by URL)",
        description="Serve the backend contract v1. Bearer auth when VOICEFSM_BACKEND_TOKEN is "
        "set; creates LiveKit rooms when LIVEKIT_URL/LIVEKIT_API_KEY/LIVEKIT_API_SECRET are set.",
    )
    backend.add_argument("--host", default="127.0.0.1")
    backend.add_argument("--port", type=int, default=8787)
    backend.add_argument(
        "--database-url",
        help="sqlite:///path or postgresql://user:pass@host/db "
        "(default: a SQLite file in the voicefsm data directory)",
    )
    backend.add_argument(
        "--openapi", action="store_true", help="print the OpenAPI document and exit"
    )
    backend.set_defaults(handler=run_backend)

    outbox = commands.add_parser(
        "outbox",
        help="inspect or drain a spool of undelivered writes",
        description="The outbox spool holds every write not yet acknowledged by the backend.",
    )
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="pending count and oldest age")
    status.add_argument("--json", action="store_true", help="one JSON object")
    drain = actions.add_parser(
        "drain", help="deliver what is pending; exit 0 only when nothing is left"
    )
    drain.add_argument("--backend-url", type=http_url, help="default: VOICEFSM_BACKEND_URL")
    drain.add_argument(
        "--timeout", type=seconds, default=60.0, help="give up after this many seconds (60)"
    )
    drain.add_argument(
        "--rebind-from",
        type=http_url,
        metavar="URL",
        help="also deliver the rows bound for the backend at URL (a wrong or retired URL): "
        "they are bound for this one first",
    )
    requeue = actions.add_parser(
        "requeue",
        help="make dead rows pending again, once the cause of their refusal is fixed",
        description="Dead rows are writes the backend refused; after fixing the cause (the "
        "backend, its limits), requeue them and drain. Filters combine; none requeues every "
        "dead row.",
    )
    requeue.add_argument(
        "--status", type=http_status, help="only rows the backend refused with this status"
    )
    requeue.add_argument(
        "--conversation", type=ConversationId, help="only this conversation's events"
    )
    requeue.add_argument(
        "--session", type=SessionId, help="only this session's writes (events and summary)"
    )
    requeue.add_argument("--json", action="store_true", help="one JSON object")
    for action in (status, drain, requeue):
        action.add_argument("--spool", type=Path, help="spool file (default: VOICEFSM_SPOOL_PATH)")
    outbox.set_defaults(handler=run_outbox)

    add_simulate_command(commands, default_agent=f"the example agent, {EXAMPLE_AGENT}")
    add_scenario_command(commands)

    timeline = commands.add_parser(
        "timeline",
        help="draw a session timeline (JSON lines) as SVG or HTML",
        description="States as coloured bands over time, turns and barge-ins marked, "
        "per-turn thinking time annotated.",
    )
    timeline.add_argument("file", type=Path, help="a timeline in JSON lines")
    timeline.add_argument(
        "-o", "--output", type=Path, help="out.svg or out.html (default: FILE.svg)"
    )
    timeline.set_defaults(handler=run_timeline)

    for name, about in (
        ("start", "run the LiveKit worker (production: JSON logs, drains on SIGTERM)"),
        ("dev", "run the LiveKit worker in development mode (colored logs, no drain)"),
    ):
        worker = commands.add_parser(
            name,
            help=about,
            description=f"{about}. Needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, "
            "DEEPGRAM_API_KEY, ELEVEN_API_KEY and an LLM (see the README).",
        )
        worker.add_argument("--log-level", default="INFO" if name == "start" else "DEBUG")
        agent_option(worker, f"the example agent, {EXAMPLE_AGENT}")
        worker.set_defaults(handler=run_worker_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    # What a command built is dropped at exit anyway: frozen, the interpreter's last full
    # collection does not walk it (about 0.5 s for livekit-agents' heap, on every command).
    gc.freeze()
    return code
