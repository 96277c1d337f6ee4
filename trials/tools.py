"""Tool-fault trials: a tool that raises (a ToolError, and a plain bug), one that hangs past its
deadline, one interrupted by a barge-in, and one that asks for no reply, on a seeded turn of a
real AgentSession with the reference backend (the seed also picks how long the interrupted
tool runs and when the caller barges in). Every write the spool acknowledged must be in the backend exactly once,
nothing invented; each tool call recorded once with the outcome it had; every session exits."""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from trials.live_session import live_session
from trials.provider_trial import _rows
from trials.summary import GroupResult
from trials.support import SessionAccount, stored_tool_outcomes
from trials.tool_agent import ToolAgent
from voicefsm.backend.server.runner import running_backend
from voicefsm.providers.scripted import ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn

FULL_SEED = 20261202
SETTINGS = {"reply_start_deadline_s": 2.0, "tool_filler_after_s": 1.0}


@dataclass(frozen=True)
class ToolCase:
    key: str
    call: ScriptedToolCall
    outcome: str
    preamble: str | None = None
    barge_in: bool = False


CASES = (
    ToolCase("raises", ScriptedToolCall("broken"), "error"),
    ToolCase("has a bug", ScriptedToolCall("buggy"), "error"),
    ToolCase("hangs", ScriptedToolCall("stuck"), "timeout"),
    ToolCase("no reply", ScriptedToolCall("remember", {"note": "gate code 4411"}), "no_reply"),
    ToolCase(
        "interrupted",
        ScriptedToolCall("slow", {"seconds": 2.5}),
        "ok",
        preamble="Let me search all of that.",
        barge_in=True,
    ),
)
USERS = ("Can you check my booking", "And the one after it", "Thanks, that is all")


async def _trial(
    case: ToolCase,
    fault_turn: int,
    rng: random.Random,
    *,
    url: str,
    database: Path,
    workdir: Path,
    tag: str,
) -> SessionAccount:
    session_id = f"tool-{case.key.replace(' ', '-')}-{fault_turn}{tag}"
    trial = SessionAccount()
    turns = [Turn(user=text, pause_ms=150) for text in USERS]
    call = case.call
    if case.barge_in:
        barge_in_ms = rng.randrange(150, 900, 50)
        turns[fault_turn] = Turn(user=USERS[fault_turn], interrupt_after_ms=barge_in_ms)
        call = ScriptedToolCall(call.name, {"seconds": rng.choice((1.5, 2.5, 3.5))})
    async with live_session(
        workdir,
        backend_url=url,
        agent=ToolAgent(),
        settings=SETTINGS,
        session_id=session_id,
        on_commit=trial.committed,
    ) as live:
        script = ScriptedTurn(tools=(call,), preamble=case.preamble)
        live.llm.script[USERS[fault_turn - 1]] = script
        await live.converse(turns)
        session = live.session
        left = (await live.outbox.stats()).pending
    if not session.lifecycle.is_finished:
        trial.problems.append(f"{session_id}: did not exit")
    if left:
        trial.problems.append(f"{session_id}: {left} writes left in the spool at exit")
    trial.delivered, _ = _rows(database, session_id)
    outcomes = stored_tool_outcomes(database, session_id)
    if outcomes != [case.outcome]:
        trial.problems.append(f"{session_id}: tool calls stored {outcomes}, not [{case.outcome!r}]")
    return trial


def run_tool_faults(*, full: bool, seed: int = FULL_SEED) -> GroupResult:
    """Each tool fault in 3 rounds (1 in CI), each round's turns and timings drawn from
    ``seed``; one result for them all."""
    result = GroupResult("tool faults: raise, bug, hang, no reply, barge-in")
    rng = random.Random(seed)
    plan = [
        (case, rng.choice((1, 2)), random.Random(rng.random()), f"-{i}")
        for i in range(3 if full else 1)
        for case in CASES
    ]
    started = time.monotonic()
    logging.getLogger("livekit.agents").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="voicefsm-tool-faults-") as tmp:
        database = Path(tmp) / "backend.sqlite3"
        with running_backend(f"sqlite:///{database}") as url:

            async def all_trials() -> list[SessionAccount]:
                return await asyncio.gather(
                    *(
                        _trial(
                            case,
                            turn,
                            trial_rng,
                            url=url,
                            database=database,
                            workdir=Path(tmp) / f"t{i}",
                            tag=tag,
                        )
                        for i, (case, turn, trial_rng, tag) in enumerate(plan)
                    )
                )

            trials = asyncio.run(all_trials())
    for trial in trials:
        result.count_session(trial.counted(), trial.problems)
    result.notes.append(f"{result.trials} trials, seed {seed}, {time.monotonic() - started:.0f} s")
    return result
