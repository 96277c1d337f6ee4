"""``python -m trials``: the full reliability trials, with a summary table.

    bash .ci/trials                       # installs PostgreSQL too, then runs everything
    python -m trials --quick              # the CI sizes (what the test suite runs)
    python -m trials --only crash load

Exits 1 if any group lost, duplicated or invented a write, crashed, or broke a check.
PostgreSQL load runs when ``VOICEFSM_TEST_POSTGRES_URL`` names a server (``.ci/postgres``
prints one); without it that group fails rather than passing unnoticed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable

from trials.crash import run_crash_trials, run_sigterm_trial
from trials.faults import PROFILES, run_backend_faults
from trials.flow_resume import run_flow_resume_trials
from trials.hostile import run_hostile
from trials.load import run_load
from trials.providers import run_provider_faults
from trials.saturation import run_saturation
from trials.scale_out import run_scale_out
from trials.security import run_security
from trials.shared_spool import run_shared_spool
from trials.storage import CASES as STORAGE_CASES
from trials.storage import run_storage_faults
from trials.summary import GroupResult, table
from trials.support import POSTGRES_URL, postgres_database
from trials.tools import run_tool_faults
from trials.user_code import run_user_code_faults

Group = Callable[[bool, int], list[GroupResult]]


def _crash(full: bool, seed: int) -> list[GroupResult]:
    trials = 24 if full else 2
    return [run_crash_trials(trials=trials, seed=seed, parallel=2), run_sigterm_trial()]


def _backend_faults(full: bool, seed: int) -> list[GroupResult]:
    if full:
        return run_backend_faults(sessions=4)
    return run_backend_faults(sessions=1, profiles=[PROFILES[1].name, PROFILES[4].name])


def _load(full: bool, seed: int) -> list[GroupResult]:
    processes, per_process = (10, 10) if full else (2, 5)
    with tempfile.TemporaryDirectory(prefix="voicefsm-load-db-") as directory:
        results = [
            run_load(
                f"sqlite:///{directory}/backend.sqlite3",
                "SQLite",
                processes=processes,
                per_process=per_process,
            )
        ]
    if POSTGRES_URL is None:
        missing = GroupResult("load: PostgreSQL")
        missing.check(False, "VOICEFSM_TEST_POSTGRES_URL is not set (.ci/postgres prints one)")
        return [*results, missing]
    with postgres_database(POSTGRES_URL) as url:
        results.append(run_load(url, "PostgreSQL", processes=processes, per_process=per_process))
    return results


def _storage(full: bool, seed: int) -> list[GroupResult]:
    if full:
        return run_storage_faults(sessions=2)
    return run_storage_faults(sessions=1, cases=[STORAGE_CASES[1].name, STORAGE_CASES[5].name])


def _scale_out(full: bool, seed: int) -> list[GroupResult]:
    if POSTGRES_URL is None:
        missing = GroupResult("scale-out: PostgreSQL")
        missing.check(False, "VOICEFSM_TEST_POSTGRES_URL is not set (.ci/postgres prints one)")
        return [missing]
    workers, per_worker = (3, 34) if full else (2, 3)
    return [run_scale_out(POSTGRES_URL, workers=workers, per_worker=per_worker)]


GROUPS: dict[str, Group] = {
    "crash": _crash,
    "flows": lambda _full, _seed: run_flow_resume_trials(),
    "backend": _backend_faults,
    "storage": _storage,
    "providers": lambda full, _seed: run_provider_faults(full=full),
    "tools": lambda full, seed: [run_tool_faults(full=full, seed=seed)],
    "user-code": lambda full, seed: [run_user_code_faults(full=full, seed=seed)],
    "shared-spool": lambda full, _seed: [run_shared_spool(processes=4 if full else 2)],
    "load": _load,
    "scale-out": _scale_out,
    "hostile": lambda full, _seed: run_hostile(full=full),
    "security": lambda full, _seed: run_security(full=full),
    "configuration": lambda full, _seed: [run_saturation(sessions=4 if full else 2)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trials", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI sizes")
    parser.add_argument("--only", nargs="+", choices=sorted(GROUPS), help="run these groups")
    parser.add_argument("--seed", type=int, default=20261122, help="for the crash and tool trials")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # faults are the point: keep their noise down
    results: list[GroupResult] = []
    started = time.monotonic()
    for name in args.only or GROUPS:
        group_started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        results += GROUPS[name](not args.quick, args.seed)
        print(f"  {name}: {time.monotonic() - group_started:.0f} s", file=sys.stderr, flush=True)
    print(table(results))
    print(
        f"\n{'quick' if args.quick else 'full'} run, seed {args.seed}, "
        f"{time.monotonic() - started:.0f} s"
    )
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
