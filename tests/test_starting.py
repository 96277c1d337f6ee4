"""Starting tells the truth: every CLI, run as a real process, refuses bad configuration in one
line naming what is wrong (and, for paths, the path and the cause), with exit status 2 and no
traceback, before anything starts."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from trials.stubs.lk_console import lk_console
from trials.support import Backend
from voicefsm import build_server
from voicefsm.agent import VoiceAgent
from voicefsm.settings import load_settings

AGENT = """
import voicefsm
from voicefsm.agent import VoiceAgent


class Desk(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="Help.", greeting="Hello!")


server = voicefsm.build_server(Desk)
"""

#: Every variable a worker needs, as both CLIs must name them when none is set.
ALL_MISSING = "LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, DEEPGRAM_API_KEY, ELEVEN_API_KEY"


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "PYTHONPATH": str(cwd),
        "XDG_DATA_HOME": str(cwd / "data"),
    }
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=base | (env or {}),
        timeout=timeout,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal printed (asserting it is one line, exit 2, no traceback)."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_voicefsm_start_without_keys_names_every_missing_variable_at_once(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    line = refused(run(tmp_path, "-m", "voicefsm", "start", "--agent", "agent.py"))
    assert line == f"voicefsm start: cannot start the worker: {ALL_MISSING} not set"


@pytest.mark.slow
def test_livekits_own_cli_without_keys_names_every_missing_variable_and_exits_2(
    tmp_path: Path,
) -> None:
    """``python -m livekit.agents start agent.py``: one log record naming them all, no
    ``AttributeError: ... '_proc_pool'``, no traceback, exit 2 (it was 1, after a crash)."""
    (tmp_path / "agent.py").write_text(AGENT)
    result = run(tmp_path, "-m", "livekit.agents", "start", "agent.py")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "_proc_pool" not in output
    refusals = [line for line in output.splitlines() if "voicefsm cannot start" in line]
    assert len(refusals) == 1, output[-3000:]
    assert f"voicefsm cannot start: {ALL_MISSING} not set" in refusals[0]


@pytest.mark.slow
def test_livekits_own_cli_names_an_invalid_setting_with_the_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    env = {"VOICEFSM_HOOK_DEADLINE_S": "inf"}
    result = run(tmp_path, "-m", "livekit.agents", "start", "agent.py", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    assert (
        "voicefsm cannot start: invalid VOICEFSM_HOOK_DEADLINE_S: Input should be a finite "
        f"number; {ALL_MISSING} not set"
    ) in output


@pytest.mark.slow
def test_an_infinite_drain_timeout_is_refused_not_an_overflow(tmp_path: Path) -> None:
    env = {
        "VOICEFSM_DRAIN_TIMEOUT_S": "inf",
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
        "DEEPGRAM_API_KEY": "d",
        "ELEVEN_API_KEY": "e",
    }
    line = refused(run(tmp_path, "-m", "voicefsm", "start", env=env))
    assert line == (
        "voicefsm start: cannot start the worker: invalid VOICEFSM_DRAIN_TIMEOUT_S: "
        "Input should be a finite number"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variables", "shown", "cause"),
    [
        ({"XDG_DATA_HOME": "/dev/null/x"}, "/dev/null/x/voicefsm", "Not a directory"),
        ({"VOICEFSM_DATA_DIR": "/proc/voicefsm"}, "/proc/voicefsm", "No such file or directory"),
    ],
)
@pytest.mark.parametrize("command", [["simulate"], ["backend", "--port", "9"]])
def test_an_unusable_data_directory_is_one_line_naming_the_path_and_the_cause(
    tmp_path: Path, command: list[str], variables: dict[str, str], shown: str, cause: str
) -> None:
    line = refused(run(tmp_path, "-m", "voicefsm", *command, env=variables))
    assert line == (
        f"voicefsm {command[0]}: the data directory (VOICEFSM_DATA_DIR) {shown}: "
        f"cannot be created ({cause})"
    )


@pytest.mark.slow
def test_a_spool_path_under_a_file_is_refused_before_the_worker_starts(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    env = {
        "VOICEFSM_SPOOL_PATH": str(tmp_path / "file" / "spool.sqlite3"),
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
        "DEEPGRAM_API_KEY": "d",
        "ELEVEN_API_KEY": "e",
    }
    line = refused(run(tmp_path, "-m", "voicefsm", "start", env=env))
    assert line == (
        "voicefsm start: the outbox spool's directory (VOICEFSM_SPOOL_PATH) "
        f"{tmp_path / 'file'}: not a directory"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [["start"], ["simulate"], ["backend", "--port", "9"], ["outbox", "status"]],
)
def test_a_dotenv_that_is_not_utf8_is_one_line_for_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / ".env").write_bytes(b"VOICEFSM_X=\xff\xfe\n")
    line = refused(run(tmp_path, "-m", "voicefsm", *command))
    assert f"{tmp_path / '.env'}: settings file is not UTF-8 text (byte 0xff at offset 11)" in line
    named = command[:2] if command[0] == "outbox" else command[:1]
    assert line.startswith(f"voicefsm {' '.join(named)}: ")


@pytest.mark.slow
def test_a_misspelled_variable_is_warned_about_on_the_command_line(tmp_path: Path) -> None:
    result = run(tmp_path, "-m", "voicefsm", "start", env={"VOICEFSM_FLUSH_DEADLINE": "3"})
    assert result.returncode == 2
    warnings = [line for line in result.stderr.splitlines() if "VOICEFSM_FLUSH_DEADLINE " in line]
    assert warnings == [
        "VOICEFSM_FLUSH_DEADLINE is not a voicefsm setting; it is ignored "
        "(did you mean VOICEFSM_FLUSH_DEADLINE_S?)"
    ]


@pytest.mark.slow
async def test_livekits_console_in_text_mode_needs_no_provider_keys(
    tmp_path: Path, backend: Backend
) -> None:
    """``python -m livekit.agents console agent.py`` with no key at all: the console turns audio
    off (text mode, as the ``lk`` CLI does), a typed turn goes through the lifecycle and the
    scripted model answers it; it used to need Deepgram, ElevenLabs and LiveKit keys."""
    (tmp_path / "agent.py").write_text(AGENT)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "VOICEFSM_VAD": "none",
        "VOICEFSM_BACKEND_URL": backend.url,
    }
    async with lk_console() as console:
        agent = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "livekit.agents", "console", "agent.py"),
            *("--connect-addr", f"127.0.0.1:{console.port}"),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with console.session(timeout=60) as remote:
                answer = await remote.run("Do you have a table tonight", timeout=30)
            agent.send_signal(signal.SIGTERM)
            await asyncio.wait_for(agent.wait(), 60)
        finally:
            if agent.returncode is None:
                agent.kill()
                await agent.wait()
    assert agent.returncode == 0
    said = [
        " ".join(part.text for part in item.message.content)
        for item in answer.items
        if item.HasField("message")
    ]
    assert any("Thanks, I heard: Do you have a table tonight" in text for text in said)
    users = [e["text"] for e in backend.events("message") if e["role"] == "user"]
    assert users == ["Do you have a table tonight"]  # a turn of the lifecycle, persisted


def test_the_console_stands_in_for_each_missing_key(tmp_path: Path) -> None:
    from voicefsm.providers.console import console_providers, stand_ins  # noqa: PLC0415
    from voicefsm.providers.scripted import ScriptedLLM  # noqa: PLC0415
    from voicefsm.settings import load_settings  # noqa: PLC0415

    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", vad="none")
    providers = console_providers(settings)
    assert (providers.stt, providers.tts, providers.turn_detection) == (None, None, "manual")
    assert isinstance(providers.llm, ScriptedLLM)
    assert stand_ins(settings) == [
        "no speech input (DEEPGRAM_API_KEY not set): typed turns",
        "no speech output (ELEVEN_API_KEY not set): text replies",
        "the scripted LLM answers (LIVEKIT_API_KEY, LIVEKIT_API_SECRET not set)",
    ]


@pytest.mark.slow
def test_simulate_puts_its_files_in_the_data_dir_it_is_given_private(tmp_path: Path) -> None:
    """``--data-dir``: the spool and the embedded backend's database there, the directory 0700,
    and no warning that it is open to others (every run once began with one)."""
    scenario = tmp_path / "short.yaml"
    scenario.write_text("turns:\n  - user: Hello there\n    pause_ms: 50\nend: participant_left\n")
    chosen = tmp_path / "chosen"
    result = run(
        tmp_path, "-m", "voicefsm", "simulate", "--scenario", str(scenario), "--json",
        "--data-dir", str(chosen), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (chosen.stat().st_mode & 0o777) == 0o700
    assert (chosen / "outbox.sqlite3").is_file()
    assert (chosen / "simulate" / "backend.sqlite3").is_file()
    assert not (tmp_path / "data").exists()  # the platform's data directory was left alone
    assert "open to other users" not in result.stderr


def test_job_processes_freeze_what_they_loaded_before_their_first_job() -> None:
    # livekit runs the server's setup_fnc in each job process before its first job: what is
    # preloaded by then is kept out of the collector's full scans during calls.
    server = build_server(VoiceAgent, load_settings())
    assert server.setup_fnc is not None
    gc.unfreeze()
    try:
        server.setup_fnc(None)  # type: ignore[arg-type] (the process itself is not used)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on collecting as before
