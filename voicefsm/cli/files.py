"""``voicefsm diagrams`` and ``voicefsm timeline``: pictures of lifecycles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voicefsm import diagrams
from voicefsm.cli.common import fail
from voicefsm.errors import DiagramError


def run_diagrams(args: argparse.Namespace) -> int:
    shape = None
    if args.agent:
        from voicefsm.diagrams.agent_shape import agent_shape  # noqa: PLC0415 (imports livekit)
        from voicefsm.worker.loading import AgentLoadError, load_agent  # noqa: PLC0415

        try:
            shape = agent_shape(load_agent(args.agent)())
        except AgentLoadError as exc:
            return fail("diagrams", str(exc))
    try:
        files = diagrams.render_all(shape)
    except DiagramError as exc:
        return fail("diagrams", str(exc))
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


def run_timeline(args: argparse.Namespace) -> int:
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


def write_timelines(directory: Path, sessions: list[dict[str, object]]) -> None:
    import json  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    for session in sessions:
        if "session_id" not in session:
            continue
        lines = "".join(json.dumps(entry) + "\n" for entry in session["timeline"])  # type: ignore[attr-defined]
        (directory / f"{session['session_id']}.jsonl").write_text(lines, encoding="utf-8")
