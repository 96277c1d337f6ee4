"""The ``voicefsm`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from voicefsm import diagrams
from voicefsm.errors import ConfigurationError, DiagramError
from voicefsm.settings import Settings, default_data_dir, load_settings


def _diagrams(args: argparse.Namespace) -> int:
    try:
        files = diagrams.render_all()
    except DiagramError as exc:
        print(f"voicefsm diagrams: {exc}", file=sys.stderr)
        return 2
    if args.check:
        diffs = diagrams.drift(args.out, files)
        if diffs:
            sys.stdout.writelines(diffs)
            print(
                f"voicefsm diagrams: {len(diffs)} file(s) in {args.out} differ from the code; "
                "run `voicefsm diagrams` and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out}: {len(files)} files match the lifecycle")
        return 0
    for path in diagrams.write(args.out, files):
        print(f"wrote {path}")
    if not args.quiet:
        print()
        print(diagrams.describe())
    return 0


def _backend(args: argparse.Namespace) -> int:
    from voicefsm.backend.openapi import openapi_document  # noqa: PLC0415 (heavy imports)
    from voicefsm.backend.server.livekit_rooms import LiveKitRooms  # noqa: PLC0415
    from voicefsm.backend.server.runner import serve  # noqa: PLC0415

    if args.openapi:
        sys.stdout.write(openapi_document())
        return 0
    settings = _settings()
    credentials = settings.livekit_credentials()
    rooms = LiveKitRooms(*credentials) if credentials else None
    database_url = args.database_url or f"sqlite:///{default_data_dir() / 'backend.sqlite3'}"
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    serve(args.host, args.port, database_url, token=settings.backend_token, rooms=rooms)
    return 0


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        print(f"voicefsm: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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
    draw.set_defaults(handler=_diagrams)

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
    backend.set_defaults(handler=_backend)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code
