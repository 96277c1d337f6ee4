"""``voicefsm simulate``: scenarios run as whole calls, offline, and checked.

Everything a run needs is checked before it starts (scenario files, settings, the model when
one is needed, where reports go), each mistake in one line with exit status 2. SIGINT and
SIGTERM are taken first of all: at any moment they end the calls, persist them, and exit
128 + the signal's number.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicefsm.cli.backend_process import BackendProcess, BackendStartError, start_embedded
from voicefsm.cli.common import (
    NO_BACKEND,
    agent_option,
    backend_installed,
    fail,
    http_url,
    positive,
    ready_or_exit,
    settings_or_exit,
)
from voicefsm.cli.outputs import usable_directory, usable_file
from voicefsm.errors import ConfigurationError
from voicefsm.settings import (
    Settings,
    check_llm,
    data_directory,
    embedded_database,
    spool_directory,
)
from voicefsm.simulation.stopping import StopRequest

if TYPE_CHECKING:
    from voicefsm.simulation.harness import SessionRun, SimulationModels
    from voicefsm.simulation.scenario import Scenario

Plan = list[tuple[str, "Scenario"]]
_LOG = logging.getLogger("voicefsm.simulate")


def add_simulate_command(commands: Any, *, default_agent: str) -> None:  # noqa: ANN401 (argparse's)
    """The ``simulate`` command's parser, on ``commands`` (argparse's subparsers)."""
    sim = commands.add_parser(
        "simulate",
        help="run whole calls offline and check them (one scenario, or a suite)",
        description="Run scenarios through the production worker path with scripted STT and "
        "TTS, simulated audio and the scripted model (or, with --llm live, the configured "
        "one), and check what each scenario expects. Without --backend-url the reference "
        "backend runs embedded (a SQLite file in the voicefsm data directory). Exit status: 0 "
        "when every session passed, 1 when one failed, 2 for a mistake in the command, its "
        "files or settings, 128 + N when stopped by signal N (SIGINT: 130, SIGTERM: 143).",
    )
    sim.add_argument(
        "--sessions", type=positive, default=1, help="copies of each scenario (default 1)"
    )
    sim.add_argument("--backend-url", type=http_url, help="deliver to this backend instead")
    sim.add_argument("--json", action="store_true", help="print one JSON document")
    sim.add_argument(
        "--timeline-dir", type=Path, help="write each session's timeline to DIR/<session_id>.jsonl"
    )
    sim.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the spool and the embedded backend's database go (default: "
        "VOICEFSM_DATA_DIR, else the voicefsm data directory)",
    )
    _add_options(sim)
    agent_option(sim, default_agent)
    sim.set_defaults(handler=run_simulate)


def _add_options(sim: argparse.ArgumentParser) -> None:
    sim.add_argument(
        "--scenario",
        nargs="+",
        action="extend",
        metavar="FILE|DIR|GLOB",
        help="scenario files (JSON or YAML), directories of them, or quoted globs; several run "
        "as one suite (default: the example agent's scenario, or a generic one)",
    )
    sim.add_argument(
        "--fast",
        action="store_true",
        help="audio on a clock that does not wait: the same call, rows and report in a "
        "fraction of the time (a pause the silence timeout would notice is refused)",
    )
    sim.add_argument(
        "--llm",
        choices=["scripted", "live"],
        default="scripted",
        help="the agent's model: the scenario's script (default), or the configured one "
        "(VOICEFSM_LLM_*, as the worker builds it)",
    )
    sim.add_argument(
        "--concurrency",
        type=positive,
        default=8,
        help="sessions at a time (default 8)",
    )
    sim.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    sim.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="what is logged to stderr (default WARNING)",
    )


def run_simulate(args: argparse.Namespace) -> int:
    stop = StopRequest()
    stop.install()  # first: no moment of the run ignores a signal or dies in a traceback
    try:
        return _simulate(args, stop)
    except KeyboardInterrupt:  # only if a signal came before the handler was in place
        return 130
    finally:
        stop.remove()


def _simulate(args: argparse.Namespace, stop: StopRequest) -> int:
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    _LOG.info("checking the scenarios, the settings and where reports go")
    if problems := _output_problems(args):
        return fail("simulate", "; ".join(problems))
    plan = _plan(args)
    if isinstance(plan, int):
        return plan
    settings = _settings(args)
    if settings.backend_url is not None:
        return _checked_run(args, stop, plan, settings, None)
    if not backend_installed():
        return fail("simulate", NO_BACKEND + " (or give --backend-url)")
    embedded = start_embedded(settings)  # first: its start-up overlaps the checks' imports
    try:
        with_url = settings.model_copy(update={"backend_url": embedded.url})
        return _checked_run(args, stop, plan, with_url, embedded)
    finally:
        embedded.stop()


def _checked_run(
    args: argparse.Namespace,
    stop: StopRequest,
    plan: Plan,
    settings: Settings,
    embedded: BackendProcess | None,
) -> int:
    if problems := _refusals(args, settings, plan):
        return fail("simulate", "; ".join(problems))
    models = _models(args, settings, plan)
    if isinstance(models, int):
        return models
    from voicefsm.cli.running import agent_factory  # noqa: PLC0415 (imports livekit)

    agent = agent_factory("simulate", args.agent)
    if isinstance(agent, int):
        return agent
    if stop.requested.is_set():
        print(
            f"voicefsm simulate: stopped by signal {stop.signal} before any call started",
            file=sys.stderr,
        )
        return stop.exit_status or 130
    if embedded is not None:
        try:
            embedded.wait_ready()
        except BackendStartError as exc:
            database = embedded_database(settings)
            return fail("simulate", f"the embedded backend ({database}) did not start: {exc}")
    return _run(args, settings, plan=plan, models=models, agent=agent, stop=stop)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with ``--data-dir`` (both of simulate's files move: its spool and its
    embedded backend's database) and ``--backend-url``; directories made ready or exit 2.
    Without either, the spool is ``<data dir>/simulate/outbox.sqlite3``, not the worker's."""
    if args.data_dir is not None:
        spool = args.data_dir / "outbox.sqlite3"
        settings = settings_or_exit("simulate", data_dir=args.data_dir, spool_path=spool)
    else:
        settings = settings_or_exit("simulate")
        if "spool_path" not in settings.model_fields_set:
            # Never production's spool by default: a throwaway call's writes and a worker's
            # stay apart (their rows are bound to their backends besides).
            spool = settings.data_dir / "simulate" / "outbox.sqlite3"
            settings = settings.model_copy(update={"spool_path": spool})
    ready_or_exit("simulate", lambda: data_directory(settings), lambda: spool_directory(settings))
    if args.backend_url:
        settings = settings.model_copy(update={"backend_url": args.backend_url})
    return settings


def _output_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.timeline_dir is not None and (why := usable_directory(args.timeline_dir)):
        problems.append(f"--timeline-dir: {why}")
    if args.junit is not None and (why := usable_file(args.junit)):
        problems.append(f"--junit: {why}")
    return problems


def _plan(args: argparse.Namespace) -> Plan | int:
    from voicefsm.simulation.reading import scenario_paths  # noqa: PLC0415
    from voicefsm.simulation.scenario import ScenarioError, load_scenario  # noqa: PLC0415

    if not args.scenario:
        default = "the example scenario" if args.agent is None else "the generic scenario"
        return [(default, load_scenario(None, example=args.agent is None))]
    try:
        paths = scenario_paths(args.scenario)
        return [(str(path), load_scenario(path)) for path in paths]
    except ValueError as exc:
        return fail("simulate", f"--scenario {exc}")
    except ScenarioError as exc:
        return fail("simulate", str(exc))


def _refusals(args: argparse.Namespace, settings: Settings, plan: Plan) -> list[str]:
    from voicefsm.simulation.pacing import fast_mode_refusals  # noqa: PLC0415

    problems = []
    for label, scenario in plan:
        if args.fast:
            problems += [f"{label}: {why}" for why in fast_mode_refusals(scenario, settings)]
        if args.llm == "live":
            problems += [
                f"{label}: turn {index}: llm_fail fails the scripted model; a real one cannot "
                "be made to (drop it, or run without --llm live)"
                for index, turn in enumerate(scenario.turns, start=1)
                if turn.llm_fail
            ]
    return problems


def _models(args: argparse.Namespace, settings: Settings, plan: Plan) -> SimulationModels | int:
    from voicefsm.simulation.harness import SimulationModels  # noqa: PLC0415

    needing = next((label for label, scenario in plan if scenario.needs_a_model), None)
    if args.llm != "live" and needing is None:
        return SimulationModels()
    try:
        check_llm(settings)
    except ConfigurationError as exc:
        why = "--llm live" if args.llm == "live" else f"{needing} (a model caller or judge)"
        return fail("simulate", f"{why} needs the configured model: {exc}")
    from voicefsm.providers.real import build_llm  # noqa: PLC0415 (imports the plugins)

    def configured() -> Any:  # noqa: ANN401 (livekit's LLM, of either kind)
        return build_llm(settings)

    live = configured if args.llm == "live" else None
    return SimulationModels(agent=live, caller=configured, judge=configured)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    plan: Plan,
    models: SimulationModels,
    agent: object,
    stop: StopRequest,
) -> int:
    import asyncio  # noqa: PLC0415

    from voicefsm.cli.simulate_output import show_results  # noqa: PLC0415
    from voicefsm.livekit_compat import skip_local_model_preload  # noqa: PLC0415
    from voicefsm.simulation import report  # noqa: PLC0415
    from voicefsm.simulation.runner import simulate_suite  # noqa: PLC0415

    one = len(plan) == 1 and args.sessions == 1

    def live(room: str, entry: object) -> None:
        print(report.transition_line(room, entry), flush=True)  # type: ignore[arg-type]

    def finished(run: SessionRun) -> None:
        print(f"  finished {run.label} ({run.duration_s:.1f} s)", flush=True)

    skip_local_model_preload()
    # Everything is imported: the heap the collector would walk again and again during the
    # calls (pauses of 0.1-0.2 s on the sessions' loop) is left out of it, as in a job process.
    gc.freeze()
    started = time.monotonic()
    result = asyncio.run(
        simulate_suite(
            plan,
            settings,
            sessions=args.sessions,
            concurrency=args.concurrency,
            fast=args.fast,
            models=models,
            agent=agent,  # type: ignore[arg-type]
            on_line=live if one and not args.json else None,
            on_finished=None if one or args.json else finished,
            stop=stop,
        )
    )
    show_results(args, result, time.monotonic() - started, one=one)
    if result.stopped_by is not None:
        print(f"voicefsm simulate: stopped by signal {result.stopped_by}", file=sys.stderr)
        return stop.exit_status or 130
    return 0 if result.ok else 1
