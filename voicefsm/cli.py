"""The ``voicefsm`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from voicefsm import diagrams
from voicefsm.errors import ConfigurationError, DiagramError
from voicefsm.settings import Settings, check_worker, default_data_dir, load_settings


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


def _outbox(args: argparse.Namespace) -> int:
    from voicefsm.persistence import commands  # noqa: PLC0415 (heavy imports)
    from voicefsm.persistence.spool import read_status  # noqa: PLC0415

    settings = _settings()
    spool: Path = args.spool or settings.spool_path
    if not spool.exists():
        print(f"voicefsm outbox: no spool at {spool}", file=sys.stderr)
        return 2
    if args.action == "status":
        status = read_status(spool)
        print(commands.format_status(spool, status, as_json=args.json))
        return 0
    backend_url = args.backend_url or (str(settings.backend_url) if settings.backend_url else None)
    if backend_url is None:
        print(
            "voicefsm outbox drain: no backend: pass --backend-url or set VOICEFSM_BACKEND_URL",
            file=sys.stderr,
        )
        return 2
    delivered, pending, dead = commands.run_drain(
        spool, backend_url, settings.backend_token, args.timeout
    )
    print(f"{spool}: delivered {delivered}; {pending} pending, {dead} dead")
    if dead:
        print(
            "voicefsm outbox drain: the backend refused some writes for good (dead rows stay "
            "in the spool for inspection)",
            file=sys.stderr,
        )
    return 0 if pending == 0 and dead == 0 else 1


def _simulate(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 (heavy imports only for this command)
    import json  # noqa: PLC0415

    from voicefsm.simulation import report  # noqa: PLC0415
    from voicefsm.simulation.runner import simulate  # noqa: PLC0415
    from voicefsm.simulation.scenario import ScenarioError, load_scenario  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"voicefsm simulate: {exc}", file=sys.stderr)
        return 2
    settings = _settings()
    if args.backend_url:
        try:
            url = TypeAdapter(AnyHttpUrl).validate_python(args.backend_url)
        except ValidationError:
            print("voicefsm simulate: --backend-url is not an http(s) URL", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"backend_url": url})

    def live(room: str, entry: object) -> None:
        print(report.transition_line(room, entry), flush=True)  # type: ignore[arg-type]

    result = asyncio.run(
        simulate(scenario, settings, sessions=args.sessions, on_line=None if args.json else live)
    )
    if args.timeline_dir is not None:
        _write_timelines(args.timeline_dir, result.sessions)
    if args.json:
        print(json.dumps({"backend_url": result.backend_url, "sessions": result.sessions}))
    else:
        print(report.summary(result.sessions, result.backend_url))
    return 0 if result.ok else 1


def _worker(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        check_worker(settings)  # before livekit is even imported: a mistake is reported at once
    except ConfigurationError as exc:
        print(f"voicefsm {args.command}: {exc}", file=sys.stderr)
        return 2
    from voicefsm.agent.definition import VoiceAgent  # noqa: PLC0415 (heavy imports)
    from voicefsm.runtime.worker import build_server, run_worker  # noqa: PLC0415

    server = build_server(VoiceAgent, settings)
    return run_worker(server, dev=args.command == "dev", log_level=args.log_level)


def _timeline(args: argparse.Namespace) -> int:
    from voicefsm.observability import figures, picture  # noqa: PLC0415

    source: Path = args.file
    out: Path = args.output or source.with_suffix(".svg")
    if out.suffix not in (".svg", ".html"):
        print("voicefsm timeline: -o must end in .svg or .html", file=sys.stderr)
        return 2
    try:
        records = figures.read_jsonl(source)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"voicefsm timeline: cannot read {source} ({type(exc).__name__})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"voicefsm timeline: {exc}", file=sys.stderr)
        return 2
    if not records:
        print(f"voicefsm timeline: {source} holds no transitions", file=sys.stderr)
        return 2
    render = picture.render_html if out.suffix == ".html" else picture.render_svg
    out.write_text(render(records, title=f"session timeline: {source.stem}"), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _write_timelines(directory: Path, sessions: list[dict[str, object]]) -> None:
    import json  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    for session in sessions:
        if "session_id" not in session:
            continue
        lines = "".join(json.dumps(entry) + "\n" for entry in session["timeline"])  # type: ignore[attr-defined]
        (directory / f"{session['session_id']}.jsonl").write_text(lines, encoding="utf-8")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        print(f"voicefsm: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        msg = "expected a whole number from 1 to 1000"
        raise argparse.ArgumentTypeError(msg)
    return value


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
    drain.add_argument("--backend-url", help="default: VOICEFSM_BACKEND_URL")
    drain.add_argument(
        "--timeout", type=float, default=60.0, help="give up after this many seconds"
    )
    for action in (status, drain):
        action.add_argument("--spool", type=Path, help="spool file (default: VOICEFSM_SPOOL_PATH)")
    outbox.set_defaults(handler=_outbox)

    sim = commands.add_parser(
        "simulate",
        help="run whole sessions offline (scripted providers, embedded backend)",
        description="Run a scenario through the production worker path with scripted STT, LLM "
        "and TTS and simulated audio. Without --backend-url the reference backend runs embedded "
        "(a SQLite file in the voicefsm data directory).",
    )
    sim.add_argument("--scenario", type=Path, help="JSON or YAML scenario (default: the example)")
    sim.add_argument(
        "--sessions", type=_positive, default=1, help="concurrent sessions (default 1)"
    )
    sim.add_argument("--backend-url", help="deliver to this backend instead")
    sim.add_argument("--json", action="store_true", help="print one JSON document")
    sim.add_argument(
        "--timeline-dir", type=Path, help="write each session's timeline to DIR/<session_id>.jsonl"
    )
    sim.set_defaults(handler=_simulate)

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
    timeline.set_defaults(handler=_timeline)

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
        worker.set_defaults(handler=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code
