"""Group 3, provider faults: every way an STT, LLM or TTS goes wrong, each through a real
``AgentSession`` against the reference backend, counted the Jepsen way.

``full=False`` runs each fault kind once, on the first turn (the CI representatives, well under a
minute). ``full=True`` runs each kind on every turn it can hit, plus seeded rounds of random
turns, so that faults meet the session in more places. A trial fails when the session does not
take the fault's defined path, does not exit cleanly, or any acknowledged write is not in the
backend exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trials.provider_cases import CASES, FaultCase
from trials.provider_trial import TrialRecord, run_trial
from trials.summary import GroupResult
from voicefsm.backend.server.runner import running_backend

GROUPS = ("STT", "LLM", "TTS")
#: Sessions run side by side: they mostly wait on (simulated) real time, not on the CPU.
CONCURRENT_TRIALS = 4
FULL_SEED = 6
FULL_RANDOM_ROUNDS = 2


def _plan(full: bool) -> list[tuple[FaultCase, int, str]]:
    """(case, faulted turn, tag) for each trial."""
    if not full:
        return [(case, 1, "") for case in CASES]
    rng = random.Random(FULL_SEED)
    plan = [(case, turn, "") for case in CASES for turn in case.fault_turns]
    for round_ in range(FULL_RANDOM_ROUNDS):
        cases = list(CASES)
        rng.shuffle(cases)
        plan += [(case, rng.choice(case.fault_turns), f"-r{round_}") for case in cases]
    return plan


async def _run_all(
    plan: list[tuple[FaultCase, int, str]], url: str, database: Path, workdir: Path
) -> list[TrialRecord]:
    slots = asyncio.Semaphore(CONCURRENT_TRIALS)

    async def one(index: int, case: FaultCase, turn: int, tag: str) -> TrialRecord:
        async with slots:
            return await run_trial(
                case,
                backend_url=url,
                database=database,
                workdir=workdir / f"{index:03d}-{case.key}",
                fault_turn=turn,
                tag=tag,
            )

    return await asyncio.gather(*(one(i, *trial) for i, trial in enumerate(plan)))


def _account(records: list[TrialRecord], seconds: float, full: bool) -> list[GroupResult]:
    results = {group: GroupResult(f"provider faults: {group}") for group in GROUPS}
    paths: dict[str, Counter[str]] = {}
    for record in records:
        result = results[record.case.provider]
        result.trials += 1
        result.faults += record.faults
        result.acknowledged += len(record.acknowledged)
        result.delivered += len(set(record.delivered) & record.acknowledged)
        result.lost += len(record.lost)
        result.duplicated += record.duplicated
        result.invented += len(record.invented)
        result.crashes += 0 if record.exited else 1
        result.failures.extend(record.broken_promises())
        if record.left_in_spool:
            result.notes.append(
                f"{record.case.key}: {record.left_in_spool} writes left in the spool at exit,"
                " delivered by the next process"
            )
        trail = " → ".join(f"{t}→{d}" for _, t, d in record.trail)
        paths.setdefault(record.case.key, Counter())[trail] += 1
    for case in CASES:
        for trail, count in sorted(paths.get(case.key, Counter()).items()):
            times = f" (x{count})" if count > 1 else ""
            results[case.provider].notes.append(f"{case.key}{times}: joining→{trail}")
    for result in results.values():
        mode = f"full, seed {FULL_SEED}" if full else "quick"
        result.notes.append(
            f"{mode}: {result.trials} trials; all provider-fault trials took {seconds:.0f} s"
        )
    return [results[group] for group in GROUPS]


@contextmanager
def _quiet_provider_errors() -> Iterator[None]:
    """The faults are on purpose: livekit's tracebacks for them would bury the summary."""
    loggers = [logging.getLogger(name) for name in ("livekit.agents", "asyncio", "voicefsm")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_provider_faults(*, full: bool) -> list[GroupResult]:
    """Run the provider-fault trials; one result per provider kind (STT, LLM, TTS)."""
    plan = _plan(full)
    started = time.monotonic()
    with (
        _quiet_provider_errors(),
        tempfile.TemporaryDirectory(prefix="voicefsm-provider-faults-") as tmp,
    ):
        workdir = Path(tmp)
        database = workdir / "backend.sqlite3"
        with running_backend(f"sqlite:///{database}") as url:
            records = asyncio.run(_run_all(plan, url, database, workdir))
    return _account(records, time.monotonic() - started, full)
