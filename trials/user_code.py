"""User-code trials: hooks and tools that raise ``SystemExit`` or ``KeyboardInterrupt``, block
the event loop or a thread, swallow cancellation, or drive the session (``say``, ``end_call``,
``write_event``) from their own thread; one fault per session, on a seeded turn of a real
AgentSession with the reference backend. Every session must reach ``exiting`` with its summary
stored, every acknowledged write be in the backend exactly once, nothing invented, and each
fault be recorded with the outcome it had."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from trials.faulty_agent import HOOK_FAULTS, FaultyAgent
from trials.live_session import live_session
from trials.provider_trial import _rows
from trials.summary import GroupResult
from trials.support import SessionAccount, stored_tool_outcomes
from voicefsm.backend.server.runner import running_backend
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn

SETTINGS = {"hook_deadline_s": 0.5, "reply_start_deadline_s": 3.0}
USERS = ("Can you check my booking", "And the one after it", "Thanks, that is all")


@dataclass(frozen=True)
class Fault:
    key: str
    #: What the backend must hold: the tool call's outcome, or the hook outcome counted.
    expected: str
    tool: str | None = None
    ends_call: bool = False
    app_event: str | None = None


FAULTS = (
    Fault("tool exits", "error", tool="exit_now"),
    Fault("tool interrupts", "error", tool="interrupt_now"),
    Fault("tool swallows cancellation", "timeout", tool="stubborn"),
    Fault("tool blocks the loop", "stalled", tool="blocking"),
    Fault("def tool never returns", "timeout", tool="hangs_in_a_thread"),
    Fault(
        "def tool says and ends the call",
        "ok",
        tool="says_and_hangs_up",
        ends_call=True,
        app_event="tool_thread",
    ),
    Fault("hook exits", "failed"),
    Fault("hook interrupts", "failed"),
    Fault("hook swallows cancellation", "timeout"),
    Fault("hook blocks the loop", "stalled"),
    Fault("hook never returns", "timeout"),
    Fault("hook ends the call", "ok", ends_call=True),
    Fault("hook writes from its thread", "ok", app_event="from_a_thread"),
)
assert {f.key for f in FAULTS if f.tool is None} == set(HOOK_FAULTS)


async def _trial(
    fault: Fault, fault_turn: int, *, url: str, database: Path, workdir: Path, tag: str
) -> SessionAccount:
    session_id = f"code-{fault.key.replace(' ', '-')}-{fault_turn}{tag}"
    trial = SessionAccount()
    agent = FaultyAgent("" if fault.tool else fault.key, fault_turn)
    turns = [Turn(user=text, pause_ms=150) for text in USERS]
    async with asyncio.timeout(120):
        async with live_session(
            workdir,
            backend_url=url,
            agent=agent,
            settings=SETTINGS,
            session_id=session_id,
            on_commit=trial.committed,
        ) as live:
            if fault.tool is not None:
                call = ScriptedTurn(tools=(ScriptedToolCall(fault.tool),))
                live.llm.script[USERS[fault_turn - 1]] = call
            if fault.ends_call:
                await _until_finished(live.session.finished, live.converse(turns))
            else:
                await live.converse(turns)
            session = live.session
            left = (await live.outbox.stats()).pending
    if session.lifecycle.state.value != "exiting":
        trial.problems.append(f"{session_id}: did not reach exiting")
    if left:
        trial.problems.append(f"{session_id}: {left} writes left in the spool at exit")
    reason = session.lifecycle.end_reason
    if fault.ends_call and (reason is None or reason.value != "end_call"):
        trial.problems.append(f"{session_id}: ended as {reason}, not by the agent")
    trial.delivered, _ = _rows(database, session_id)
    _check_outcome(trial, fault, session_id, database, session.record.counters.hooks)
    return trial


async def _until_finished(finished: asyncio.Event, conversation: Awaitable[object]) -> None:
    """The agent ends the call mid-script: the caller's script stops with it."""
    task = asyncio.ensure_future(conversation)
    await finished.wait()
    await asyncio.sleep(0.5)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _check_outcome(
    trial: SessionAccount, fault: Fault, session_id: str, database: Path, hooks: object
) -> None:
    with sqlite3.connect(database) as db:
        stored = dict(
            db.execute(
                "SELECT kind, COUNT(*) FROM events WHERE session_id = ? GROUP BY kind",
                (session_id,),
            ).fetchall()
        )
        names = [
            name
            for (name,) in db.execute(
                "SELECT json_extract(payload, '$.name') FROM events"
                " WHERE session_id = ? AND kind = 'app'",
                (session_id,),
            )
        ]
        summaries = db.execute(
            "SELECT COUNT(*) FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()[0]
    outcomes = stored_tool_outcomes(database, session_id)
    if summaries != 1:
        trial.problems.append(f"{session_id}: {summaries} summaries stored")
    if fault.tool is not None and outcomes != [fault.expected]:
        trial.problems.append(f"{session_id}: tool calls stored {outcomes}, not {fault.expected}")
    if fault.tool is None and not hooks[fault.expected]:  # type: ignore[index]
        trial.problems.append(f"{session_id}: no hook run counted {fault.expected}: {hooks}")
    if fault.app_event is not None and fault.app_event not in names:
        trial.problems.append(f"{session_id}: {fault.app_event} not stored ({stored})")


def run_user_code_faults(*, full: bool, seed: int) -> GroupResult:
    """Each fault in 2 rounds (1 in CI, a few faults), the fault's turn drawn from ``seed``."""
    result = GroupResult("user code: raise, exit, block, swallow cancel, session API")
    rng = random.Random(seed)
    faults = FAULTS if full else (FAULTS[0], FAULTS[2], FAULTS[5], FAULTS[6], FAULTS[11])
    plan = [
        (fault, rng.choice((1, 2)), f"-{i}") for i in range(2 if full else 1) for fault in faults
    ]
    started = time.monotonic()
    logging.getLogger("livekit.agents").setLevel(logging.CRITICAL)
    logging.getLogger("voicefsm.agent").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="voicefsm-user-code-") as tmp:
        database = Path(tmp) / "backend.sqlite3"
        with running_backend(f"sqlite:///{database}") as url:

            async def all_trials() -> list[SessionAccount | BaseException]:
                return await asyncio.gather(
                    *(
                        _trial(
                            fault,
                            turn,
                            url=url,
                            database=database,
                            workdir=Path(tmp) / f"t{i}",
                            tag=tag,
                        )
                        for i, (fault, turn, tag) in enumerate(plan)
                    ),
                    return_exceptions=True,
                )

            trials = asyncio.run(all_trials())
    for (fault, _, _), trial in zip(plan, trials, strict=True):
        if isinstance(trial, BaseException):
            result.trials += 1
            result.faults += 1
            result.crashes += 1
            result.failures.append(f"{fault.key}: {type(trial).__name__} escaped the session")
            continue
        result.count_session(trial.counted(), trial.problems)
    result.notes.append(f"{result.trials} trials, seed {seed}, {time.monotonic() - started:.0f} s")
    return result
