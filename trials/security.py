"""Group 6, security: secrets never leak; the backend refuses missing or wrong tokens; the spool
is private; oversized metadata is refused; participant metadata reaches the LLM only as quoted
data.

Sessions run through the production path (``voicefsm simulate``, in-process: the worker's
entrypoint in an unregistered ``AgentServer``) with fake secrets in the environment, as a
deployment would set them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from pydantic import SecretStr

from trials.prompt_injection import INJECTED_PARTICIPANT, injection_is_quoted
from trials.secrets_scan import (
    SECRETS,
    captured_logs,
    files_under,
    leaks,
    secrets_in_environment,
)
from trials.security_checks import auth_refusals, oversized_metadata
from trials.summary import GroupResult
from trials.support import free_port
from voicefsm.backend.server.runner import running_backend
from voicefsm.cli import main
from voicefsm.settings import load_settings
from voicefsm.simulation.harness import SimulationPlumbing
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario, Turn

TOKEN = SECRETS["VOICEFSM_BACKEND_TOKEN"]
SCENARIO = Scenario(
    participant_metadata=INJECTED_PARTICIPANT,
    turns=[Turn(user="What is my account password", pause_ms=0)],
)


def run_security(*, full: bool) -> list[GroupResult]:
    secrets = GroupResult("security: no secret in logs, errors, reprs, spool, output")
    privacy = GroupResult("security: spool file private (0600)")
    injection = GroupResult("security: metadata reaches the LLM as quoted data")
    with tempfile.TemporaryDirectory() as directory, secrets_in_environment(VOICEFSM_VAD="none"):
        root = Path(directory)
        _printed_session(secrets, root / "printed", json_output=True)
        if full:
            _printed_session(secrets, root / "text", json_output=False)
        _observed_session(secrets, privacy, injection, root / "observed")
        if full:
            _wrong_token_session(secrets, root / "wrong-token")
        _configuration_errors_and_reprs(secrets)
    return [secrets, auth_refusals(), privacy, oversized_metadata(), injection]


def _printed_session(result: GroupResult, directory: Path, *, json_output: bool) -> None:
    """``voicefsm simulate`` as a user runs it, against a backend requiring the token."""
    directory.mkdir(mode=0o700)
    scenario = directory / "scenario.json"
    scenario.write_text(SCENARIO.model_dump_json())
    out = io.StringIO()
    database = directory / "backend.sqlite3"
    with (
        running_backend(f"sqlite:///{database}", token=SecretStr(TOKEN)) as url,
        captured_logs() as logs,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        os.environ["VOICEFSM_SPOOL_PATH"] = str(directory / "spool.sqlite3")
        try:
            argv = ["simulate", "--scenario", str(scenario), "--backend-url", url]
            code = main([*argv, "--json"] if json_output else argv)
        finally:
            del os.environ["VOICEFSM_SPOOL_PATH"]
    result.trials += 1
    result.check(code == 0, f"voicefsm simulate exited {code}: {out.getvalue()[-500:]}")
    result.check(bool(logs), "no log record was captured (the scan would see nothing)")
    with sqlite3.connect(database) as db:
        (stored,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
    result.check(stored > 0, "the session's writes did not reach the backend")
    result.inputs += len(logs)
    result.failures += leaks(logs, "a log record")
    result.failures += leaks([out.getvalue()], "simulate's printed output")
    result.failures += leaks(files_under(directory), "a file (spool, backend database)")


def _observed_session(
    secrets: GroupResult, privacy: GroupResult, injection: GroupResult, directory: Path
) -> None:
    """A session whose backend is down, so every write stays spooled for the scan; run with a
    permissive umask, so the spool's modes cannot come from the environment."""
    directory.mkdir(mode=0o700)
    spool = directory / "spool" / "outbox.sqlite3"
    settings = load_settings(
        spool_path=spool, backend_url=f"http://127.0.0.1:{free_port()}", flush_deadline_s=1.0
    )
    plumbing = SimulationPlumbing(SCENARIO)
    umask = os.umask(0)
    try:
        with captured_logs() as logs:
            report = asyncio.run(simulate(SCENARIO, settings, plumbing=plumbing))
    finally:
        os.umask(umask)
    [run] = plumbing.runs.values()
    secrets.trials += 1
    with sqlite3.connect(spool) as db:
        rows = [repr(row) for row in db.execute("SELECT * FROM outbox")]
    secrets.check(len(rows) > 3, f"only {len(rows)} spool rows to scan")
    secrets.inputs += len(logs) + len(rows)
    secrets.failures += leaks(logs, "a log record")
    secrets.failures += leaks(rows, "a spool row")
    secrets.failures += leaks([json.dumps(report.sessions)], "the session report")
    session = run.session
    objects = [settings, session, run.llm]
    if session is not None:
        objects += [session.outbox, session.client, vars(session), vars(session.pipeline)]
        objects += [vars(session.client) if session.client else None]
    secrets.failures += leaks([repr(thing) for thing in objects], "a repr")
    _spool_modes(privacy, spool)
    injection.trials += 1
    injection.inputs += 1
    if run.llm is None or not run.llm.chat_contexts:
        injection.failures.append("the LLM was never asked anything")
        return
    injection_is_quoted(injection, run.llm.chat_contexts[0])


def _spool_modes(result: GroupResult, spool: Path) -> None:
    result.trials += 1
    modes = {path.name: path.stat().st_mode & 0o777 for path in spool.parent.iterdir()}
    result.inputs += len(modes)
    result.check(spool.name in modes, "the session left no spool file")
    for name, mode in sorted(modes.items()):
        result.check(mode == 0o600, f"{name} is {mode:o}, not 600 (umask was 000)")
    directory_mode = spool.parent.stat().st_mode & 0o777
    result.check(directory_mode == 0o700, f"the spool directory is {directory_mode:o}")
    result.notes.append(
        "modes after a whole session under umask 000: "
        + ", ".join(f"{name} {mode:o}" for name, mode in sorted(modes.items()))
    )


def _wrong_token_session(result: GroupResult, directory: Path) -> None:
    """The agent holds the fake token, the backend wants another: 401s all the way, and the
    token is in no log line, error or report."""
    directory.mkdir(mode=0o700)
    database = directory / "backend.sqlite3"
    with running_backend(f"sqlite:///{database}", token=SecretStr("another-token-xyz")) as url:
        settings = load_settings(
            spool_path=directory / "spool.sqlite3", backend_url=url, flush_deadline_s=1.0
        )
        with captured_logs() as logs:
            report = asyncio.run(simulate(SCENARIO, settings))
    result.trials += 1
    result.inputs += len(logs)
    result.check(report.sessions[0]["outbox"]["pending"] > 0, "a wrong token delivered writes")
    result.failures += leaks(logs, "a log record (wrong token)")
    result.failures += leaks(files_under(directory), "a file (wrong token)")


def _configuration_errors_and_reprs(result: GroupResult) -> None:
    from voicefsm.errors import ConfigurationError  # noqa: PLC0415
    from voicefsm.providers.real import build_providers  # noqa: PLC0415
    from voicefsm.settings import check_providers  # noqa: PLC0415

    texts: list[str] = []
    for bad in ({"spool_max_rows": 0}, {"backend_url": "not a url"}):
        try:
            load_settings(**bad)
        except ConfigurationError as exc:
            texts += [str(exc), repr(exc)]
    try:
        load_settings(min_endpointing_delay_s=99)
    except ConfigurationError as exc:
        texts += [str(exc), repr(exc)]
    provider_settings = load_settings()
    check_providers(provider_settings)
    texts += [repr(provider_settings), str(provider_settings.model_dump())]

    async def providers_repr() -> list[str]:
        providers = build_providers(provider_settings)
        return [repr(providers), repr(providers.stt), repr(providers.tts), repr(providers.llm)]

    texts += asyncio.run(providers_repr())
    result.inputs += len(texts)
    result.check(len(texts) >= 10, "configuration errors were not raised")
    result.failures += leaks(texts, "a configuration error or a settings/provider repr")
