"""The ``voicefsm`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from voicefsm import diagrams
from voicefsm.errors import DiagramError


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code
