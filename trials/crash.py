"""Crash trials: a worker process SIGKILLed at a random moment of a live session, then
restarted on the same spool and conversation; and a SIGTERM that must drain and persist.

Each trial runs ``voicefsm.simulation.simulate`` (the production entrypoint in an unregistered
worker, scripted providers, simulated audio) in a child process against a reference backend
served by this process. The child reports every write the moment it is acknowledged (spool
commit). After the kill, a second child resumes the same conversation from the same spool.
The backend's database must then hold every acknowledged write exactly once and nothing else,
and the resumed session must have started from exactly the conversation the backend holds.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from trials.child import ChildRun
from trials.ledger import Applied, read_applied
from trials.ledger import account as account_writes
from trials.summary import GroupResult
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.commands import drain
from voicefsm.settings import Settings, load_settings

RECENT_MESSAGES = Settings.model_fields["recent_messages"].default
PHASE_ONE = [
    {"user": "I would like to move my appointment to Thursday"},
    {"user": "Morning if possible, around nine", "pause_ms": 200},
    {"user": "Wait, make that ten instead", "interrupt_after_ms": 600},
    {"user": "Great, and please send a reminder", "pause_ms": 200},
]
#: Long enough (about a minute) that only the signal can end it within its budget.
LONG_CALL = [
    *PHASE_ONE,
    {"user": "Also, is there parking near the office"},
    {"user": "How much does the parking cost per hour"},
    {"user": "Do you take cards there or only cash"},
    {"user": "Fine, and what about the weekend rates"},
]
PHASE_TWO = [{"user": "Can you remind me what we agreed earlier"}]
#: The latest moment a kill is aimed at, in seconds after the child starts; phase one takes
#: about this long, so kills land in every state, start-up included.
KILL_WINDOW_S = (1.0, 24.0)
CHILD_TIMEOUT_S = 120.0


def _scenario(conversation_id: str | None, turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "room_metadata": {} if conversation_id is None else {"conversation_id": conversation_id},
        "participant_metadata": {"user_id": "u_trial", "display_name": "Trial"},
        "turns": turns,
        "end": "hang_up",
    }


def new_conversation(backend_url: str, room: str) -> str:
    """Create the conversation the way a product does before a call: ``POST /api/v1/rooms``."""
    response = httpx.post(f"{backend_url}/api/v1/rooms", json={"name": room}, timeout=10)
    response.raise_for_status()
    return str(response.json()["conversation_id"])


def spooled_keys(spool_path: Path) -> set[str]:
    """Keys still in the spool (committed, not yet delivered); read-only, like a post-mortem."""
    if not spool_path.exists():
        return set()
    connection = sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True)
    try:
        return {row[0] for row in connection.execute("SELECT idempotency_key FROM outbox")}
    finally:
        connection.close()


def drain_spool(spool_path: Path, backend_url: str, rebind_from: str | None = None) -> int:
    """What ``voicefsm outbox drain`` does (``--rebind-from``: rows written for that other
    address first bound for this one); returns the writes still pending afterwards."""
    if not spool_path.exists():
        return 0
    return asyncio.run(drain(spool_path, backend_url, None, 30.0, rebind_from)).pending


def _check_resume(result: GroupResult, trial: str, applied: Applied, resumed: ChildRun) -> None:
    report = resumed.report
    if report is None or not report["sessions"]:
        result.check(False, f"{trial}: the restarted session produced no report")
        return
    session = report["sessions"][0]
    earlier = [m for m in applied.messages if m.session_id != session["session_id"]]
    expected = [{"role": m.role, "text": m.text} for m in earlier][-RECENT_MESSAGES:]
    result.check(
        session["resumed_from"] == expected,
        f"{trial}: resumed from {len(session['resumed_from'])} messages, "
        f"the backend holds {len(expected)} (or they differ)",
    )
    triggers = {entry["trigger"] for entry in session["timeline"]}
    greeted_again = "context_loaded" in triggers
    result.check(
        greeted_again == (not expected),
        f"{trial}: greeted again={greeted_again} with {len(expected)} earlier messages",
    )
    result.check(session["final_state"] == "exiting", f"{trial}: restart did not exit")


def crash_trial(
    index: int, seed: int, backend_url: str, database_url: str, workdir: Path
) -> GroupResult:
    """One kill-and-restart trial; its own conversation and spool, a shared backend."""
    result = GroupResult("crash: SIGKILL + restart", trials=1)
    rng = random.Random(f"{seed}:{index}")
    trial = f"trial {index} (seed {seed})"
    spool = workdir / f"spool-{index}.sqlite3"
    room = f"crash-{seed}-{index}"
    # Odd trials start in a room that names no conversation (as SIP dispatch rules make them):
    # the agent gets the room's conversation from the backend itself.
    named = new_conversation(backend_url, room) if index % 2 == 0 else None
    config = {
        "backend_url": backend_url,
        "spool_path": str(spool),
        "flush_deadline_s": 4.0,
        "history_deadline_s": 5.0,  # two trials share two cores: no degraded start by chance
        "room_names": [room],
    }

    first = ChildRun({**config, "scenario": _scenario(named, PHASE_ONE)}).start()
    kill_at = rng.uniform(*KILL_WINDOW_S)
    while not first.finished and time.monotonic() - first.started_at < kill_at:
        time.sleep(0.01)
    killed = not first.finished
    first.signal(signal.SIGKILL)
    first.wait(CHILD_TIMEOUT_S)
    result.faults += int(killed)
    in_spool = spooled_keys(spool)
    acknowledged = set(first.acked)
    last_state = first.states[-1][1] if first.states else "before any transition"
    result.notes.append(
        f"{trial}: killed at {kill_at:.2f} s ({last_state.split(' ', 1)[-1]}), "
        f"{len(acknowledged)} acked, {len(in_spool)} undelivered in the spool"
        if killed
        else f"{trial}: finished before its kill at {kill_at:.2f} s"
    )

    # The room's conversation, as the first session left it in the room (or, killed before it
    # got one, as the restarted agent will get it from the backend).
    conversation = named or new_conversation(backend_url, room)
    second = ChildRun({**config, "scenario": _scenario(conversation, PHASE_TWO)}).start()
    second.wait(CHILD_TIMEOUT_S)
    result.check(second.returncode == 0, f"{trial}: the restart exited {second.returncode}")
    result.crashes += int(second.returncode not in (0, None) and second.report is None)
    leftover = drain_spool(spool, backend_url)
    result.check(leftover == 0, f"{trial}: {leftover} writes still pending after a drain")

    applied = read_applied(database_url, [conversation])
    # Acknowledged: what the writers saw committed, plus commits a SIGKILL kept them from
    # printing (still in the spool at the kill). Both processes' writes are accounted for.
    acknowledged |= in_spool | set(second.acked)
    account_writes(result, acknowledged=acknowledged, applied=applied, where=trial)
    _check_resume(result, trial, applied, second)
    return result


def merge(group: str, parts: list[GroupResult]) -> GroupResult:
    total = GroupResult(group)
    for part in parts:
        for name in ("trials", "acknowledged", "delivered", "lost", "duplicated", "invented"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.faults += part.faults
        total.crashes += part.crashes
        total.failures += part.failures
        total.notes += part.notes
    return total


def run_crash_trials(*, trials: int, seed: int = 20261122, parallel: int = 1) -> GroupResult:
    """``trials`` seeded kill-and-restart trials against one SQLite reference backend."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-crash-")))
        database_url = f"sqlite:///{workdir / 'backend.sqlite3'}"
        backend_url = stack.enter_context(running_backend(database_url))
        with ThreadPoolExecutor(parallel) as pool:
            parts = list(
                pool.map(
                    lambda i: crash_trial(i, seed, backend_url, database_url, workdir),
                    range(trials),
                )
            )
    return merge("crash: SIGKILL + restart", parts)


#: livekit gives a job's entrypoint this long to return once the job is shut down, before it
#: cancels it (``ipc/job_proc_lazy_main.py``); voicefsm persists on that cancellation.
LIVEKIT_ENTRYPOINT_GRACE_S = 15.0


def sigterm_budget_s(drain_timeout_s: float, settings: Settings) -> float:
    """The longest a SIGTERM may take to end a live session cleanly: the drain, livekit's
    entrypoint grace, then the farewell and the flush (each under its own deadline)."""
    return (
        drain_timeout_s
        + LIVEKIT_ENTRYPOINT_GRACE_S
        + settings.farewell_deadline_s
        + settings.flush_deadline_s
        + 5.0  # process start-up of the shutdown path, the report, interpreter exit
    )


def run_sigterm_trial(*, drain_timeout_s: float = 1.0) -> GroupResult:
    """SIGTERM mid-turn: the run drains, then ends and persists the session, and exits 0."""
    result = GroupResult("shutdown: SIGTERM mid-session", trials=1, faults=1)
    flush_deadline_s = 4.0
    budget = sigterm_budget_s(drain_timeout_s, load_settings(flush_deadline_s=flush_deadline_s))
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-term-")))
        database_url = f"sqlite:///{workdir / 'backend.sqlite3'}"
        backend_url = stack.enter_context(running_backend(database_url))
        conversation = new_conversation(backend_url, "sigterm")
        spool = workdir / "spool.sqlite3"
        child = ChildRun(
            {
                "backend_url": backend_url,
                "spool_path": str(spool),
                "flush_deadline_s": flush_deadline_s,
                "drain_timeout_s": drain_timeout_s,
                "scenario": _scenario(conversation, LONG_CALL),
            }
        ).start()
        reached = child.wait_for_state("listening thinking user_turn_completed", 60)
        result.check(reached, "the session never reached its first reply")
        signalled = time.monotonic()
        child.signal(signal.SIGTERM)
        child.wait(budget + 30)
        took = time.monotonic() - signalled
        result.notes.append(f"exited {took:.1f} s after SIGTERM (budget {budget:.0f} s)")
        result.check(child.returncode == 0, f"exit status {child.returncode} after SIGTERM")
        result.check(took <= budget, f"took {took:.1f} s, over its budget of {budget:.0f} s")
        sessions = child.report["sessions"] if child.report else []
        result.check(len(sessions) == 1, "no session report after SIGTERM")
        for session in sessions:
            result.check(session["final_state"] == "exiting", "the session did not exit")
            result.check(session["outbox"]["pending"] == 0, "writes left pending at exit")
            result.check(
                len(session["history"]) < 2 * len(LONG_CALL) + 1,
                "the scenario ran to its end: the signal did not stop it",
            )
        applied = read_applied(database_url, [conversation])
        acknowledged = set(child.acked) | spooled_keys(spool)
        account_writes(result, acknowledged=acknowledged, applied=applied, where="SIGTERM")
        result.check(bool(applied.summaries), "no session summary reached the backend")
    return result
