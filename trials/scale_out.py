"""Scale-out: several worker processes (sharing nothing but the spool file, as job processes of
one machine do) and two replicas of the reference backend on one PostgreSQL, behind a
round-robin balancer. Mid-run one replica and one worker are SIGKILLed. Every write the spool
acknowledged must be applied exactly once, nothing invented; every session of the surviving
workers must exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from trials.child import ChildRun
from trials.crash import drain_spool, spooled_keys
from trials.ledger import account, read_applied
from trials.load import SCENARIO
from trials.stubs.round_robin import round_robin
from trials.summary import GroupResult
from trials.support import free_port, postgres_database
from voicefsm.persistence.targets import session_of

CHILD_TIMEOUT_S = 900.0
_ROOT = Path(__file__).resolve().parents[1]


def _replica(database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """One ``voicefsm backend`` process on ``database_url``, answering."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "voicefsm", "backend", "--port", str(port),
         "--database-url", database_url],
        cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    msg = "a backend replica did not start"
    raise RuntimeError(msg)


def _wait_for_acks(children: list[ChildRun], count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(len(c.acked) for c in children) < count and time.monotonic() < deadline:
        time.sleep(0.2)


def run_scale_out(server_url: str, *, workers: int = 3, per_worker: int = 34) -> GroupResult:
    sessions = workers * per_worker
    result = GroupResult(
        f"scale-out: {sessions} sessions, {workers} workers, 2 replicas, PostgreSQL",
        trials=sessions,
    )
    with (
        postgres_database(server_url) as database_url,
        tempfile.TemporaryDirectory(prefix="voicefsm-scale-out-") as directory,
    ):
        first, first_port = _replica(database_url)  # it makes the schema; then the second
        second, second_port = _replica(database_url)
        try:
            with round_robin([first_port, second_port]) as url:
                spool = Path(directory) / "spool.sqlite3"
                started = time.monotonic()
                children = [
                    ChildRun(
                        {
                            "backend_url": url,
                            "spool_path": str(spool),
                            "scenario": SCENARIO,
                            "sessions": per_worker,
                            "flush_deadline_s": 10.0,
                        }
                    ).start()
                    for _ in range(workers)
                ]
                # Mid-run: a third of the writes acknowledged, then the kills.
                _wait_for_acks(children, sessions * 4, timeout_s=300)
                killed_at = time.monotonic() - started
                first.kill()
                children[0].signal(signal.SIGKILL)
                for child in children:
                    child.wait(CHILD_TIMEOUT_S)
                wall = time.monotonic() - started
                left_in_spool = spooled_keys(spool)
                leftover = drain_spool(spool, url)
        finally:
            for replica in (first, second):
                replica.kill()
                replica.wait(30)
        survivors = children[1:]
        reports = [s for c in survivors if c.report for s in c.report["sessions"]]
        result.crashes += sum(1 for c in survivors if c.report is None)
        result.crashes += sum(1 for s in reports if s["final_state"] != "exiting" or s["stuck"])
        expected = (workers - 1) * per_worker
        result.check(len(reports) == expected, f"{len(reports)} of {expected} sessions reported")
        result.check(leftover == 0, f"{leftover} writes still pending after a final drain")
        acknowledged = {key for child in children for key in child.acked}
        applied = read_applied(
            database_url,
            conversations=[s["conversation_id"] for s in reports if "conversation_id" in s],
            sessions={session_of(key) for key in acknowledged},
        )
        account(
            result,
            acknowledged=acknowledged,
            applied=applied,
            known=acknowledged | left_in_spool,
            where="scale-out",
        )
    result.faults = 2  # a replica and a worker SIGKILLed
    result.notes.append(
        f"{workers} workers x {per_worker} sessions in {wall:.0f} s; SIGKILLs at "
        f"{killed_at:.0f} s; {len(acknowledged)} writes acknowledged "
        f"({len(children[0].acked)} by the killed worker; {len(left_in_spool)} left for the "
        "final drain)"
    )
    return result
