"""Load: many concurrent simulated sessions in several worker processes sharing one spool and
one reference backend (SQLite or PostgreSQL); every acknowledged write must arrive once."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from trials.child import ChildRun
from trials.crash import drain_spool, spooled_keys
from trials.ledger import account, read_applied
from trials.summary import GroupResult
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.targets import session_of

SCENARIO = {
    "participant_metadata": {"user_id": "u_load", "display_name": "Lou"},
    "turns": [
        {"user": "Where is my parcel right now"},
        {"user": "Can it be left with a neighbour", "pause_ms": 300},
    ],
    "end": "hang_up",
}
CHILD_TIMEOUT_S = 600.0


def run_load(database_url: str, label: str, *, processes: int, per_process: int) -> GroupResult:
    """``processes`` times ``per_process`` concurrent sessions against a backend on ``database_url``."""
    sessions = processes * per_process
    result = GroupResult(f"load: {sessions} sessions, {label}", trials=sessions)
    with tempfile.TemporaryDirectory(prefix="voicefsm-load-") as directory:
        spool = Path(directory) / "spool.sqlite3"  # shared, as a worker's job processes share it
        with running_backend(database_url) as backend_url:
            started = time.monotonic()
            children = [
                ChildRun(
                    {
                        "backend_url": backend_url,
                        "spool_path": str(spool),
                        "scenario": SCENARIO,
                        "sessions": per_process,
                        "flush_deadline_s": 8.0,
                    }
                ).start()
                for _ in range(processes)
            ]
            for child in children:
                child.wait(CHILD_TIMEOUT_S)
            wall = time.monotonic() - started
            left_in_spool = spooled_keys(spool)
            leftover = drain_spool(spool, backend_url)
        reports = [s for child in children if child.report for s in child.report["sessions"]]
        result.crashes += sum(1 for c in children if c.report is None)
        result.crashes += sum(1 for s in reports if s["final_state"] != "exiting" or s["stuck"])
        result.check(len(reports) == sessions, f"{len(reports)} of {sessions} sessions reported")
        result.check(leftover == 0, f"{leftover} writes still pending after a final drain")
        acknowledged = {key for child in children for key in child.acked} | left_in_spool
        applied = read_applied(
            database_url,
            conversations=[s["conversation_id"] for s in reports if "conversation_id" in s],
            sessions={session_of(key) for key in acknowledged},
        )
        account(result, acknowledged=acknowledged, applied=applied, where=label)
    latencies = sorted(
        t["e2e_latency_s"] for s in reports for t in s.get("latencies", ()) if t["e2e_latency_s"]
    )
    if latencies:
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        result.notes.append(
            f"{processes} processes x {per_process} sessions in {wall:.0f} s; "
            f"{len(latencies)} turns, latency median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms; {len(acknowledged)} writes "
            f"({len(left_in_spool)} left for the final drain)"
        )
    return result
