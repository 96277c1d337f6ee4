"""What ``voicefsm simulate`` writes once its calls are over: timelines, a JUnit file, and the
report on standard output (JSON, or the summary and, for several sessions, the table)."""

from __future__ import annotations

import argparse
import json

from voicefsm.cli.files import write_timelines
from voicefsm.simulation import report, suite_report
from voicefsm.simulation.runner import SimulationResult


def show_results(
    args: argparse.Namespace, result: SimulationResult, total_s: float, *, one: bool
) -> None:
    """Write what ``args`` asks for; ``one`` when a single session ran (its summary in full)."""
    sessions = result.sessions
    if args.timeline_dir is not None:
        write_timelines(args.timeline_dir, sessions)
    if args.junit is not None:
        args.junit.write_bytes(suite_report.junit_xml(sessions, total_s))
    if args.json:
        document = {"backend_url": result.backend_url, "sessions": sessions, "total_s": total_s}
        print(json.dumps(document))
        return
    shown = [s for s in sessions if one or suite_report.outcome(s)[0] == "failed"]
    print(report.summary(shown, result.backend_url))
    if not one:
        print()
        print(suite_report.table(sessions, total_s))
