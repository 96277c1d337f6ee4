"""The README's examples run as written: the lifecycle snippet, and the agent a reader builds
from the "Build your own agent" section (its file, its scenario and its tests), through
``voicefsm simulate``, ``voicefsm diagrams --check``, livekit's own CLI and pytest."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trials.stubs.lk_console import lk_console
from trials.stubs.voice_vendors import DEEPGRAM_KEY, ELEVEN_KEY, LLM_KEY, vendor_stubs
from trials.support import Backend, free_port

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"(<!-- readme: (\S+) -->\n)?```(\w+)\n(.*?)```", TEXT, flags=re.DOTALL)
SNIPPETS = [code for marker, _, lang, code in BLOCKS if lang == "python" and not marker]
FILES = {name: code for _, name, _, code in BLOCKS if name}


def test_the_readme_has_python_examples_and_the_agent_files() -> None:
    assert SNIPPETS
    assert set(FILES) == {
        "agent.py",
        "clinic.yaml",
        "test_hooks.py",
        "test_turns.py",
        "table_flow.py",
        "test_table_flow.py",
    }
    assert len(FILES["agent.py"].splitlines()) <= 40  # "a complete agent file" a reader types


@pytest.mark.parametrize("source", SNIPPETS)
def test_readme_example_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(source, str(README), "exec"), {})  # noqa: S102 (our own README)
    assert capsys.readouterr().out.count('"trigger"') >= 4  # the timeline was printed


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A reader's project: the README's files, as written."""
    for name, code in FILES.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def _run(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": str(project), "PYTHONPATH": str(project)}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=project,
        env=base | (env or {}),
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_the_readers_agent_runs_through_simulate_and_its_writes_reach_the_backend_once(
    project: Path, backend: Backend
) -> None:
    result = _run(
        project,
        "-m",
        "voicefsm",
        "simulate",
        "--agent",
        "agent.py",
        "--scenario",
        "clinic.yaml",
        "--json",
        "--backend-url",
        backend.url,
        env={"VOICEFSM_SPOOL_PATH": str(project / "spool.sqlite3")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [session] = json.loads(result.stdout)["sessions"]
    assert all(expectation["ok"] for expectation in session["expectations"])
    assert session["end_reason"] == "end_call"
    apps = backend.events("app")
    assert [(e["name"], e["data"]) for e in apps] == [
        ("appointment", {"day": "Monday", "time": "10:00"}),
        ("call_filed", {"turns": 2}),
    ]
    assert len(backend.stored_keys()) == len(set(backend.stored_keys()))  # each write once
    assert [c["name"] for c in backend.events("tool_call")] == ["book_appointment", "hang_up"]


@pytest.mark.slow
def test_the_readers_agent_is_drawn_and_checked_for_drift(project: Path) -> None:
    out = project / "docs" / "lifecycle"
    drawn = _run(
        project, "-m", "voicefsm", "diagrams", "--agent", "agent.py", "--out", str(out), "-q"
    )
    assert drawn.returncode == 0, drawn.stderr
    mermaid = (out / "lifecycle.mmd").read_text()
    assert 'title: "Clinic: its voice lifecycle"' in mermaid
    assert "tools: book_appointment, hang_up" in mermaid  # on thinking, where replies call them
    assert "on enter: file_the_call" in mermaid  # on persisting
    check = ["-m", "voicefsm", "diagrams", "--agent", "agent.py", "--out", str(out), "--check"]
    assert _run(project, *check).returncode == 0
    agent = project / "agent.py"
    agent.write_text(agent.read_text().replace("def hang_up(", "def end_the_call("))
    drifted = _run(project, *check)
    assert drifted.returncode == 1
    assert "+    note right of thinking" in drifted.stdout or "end_the_call" in drifted.stdout
    assert "differ from the code" in drifted.stderr


@pytest.mark.slow
def test_the_readers_tests_pass_as_written(project: Path) -> None:
    result = _run(
        project,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "test_hooks.py",
        "test_turns.py",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout


def test_the_readme_flow_picture_is_what_the_readers_flow_draws(project: Path) -> None:
    """The picture beside the README's flow is drawn from that very code; after changing it,
    save the README's table_flow.py in a directory and run there
    ``voicefsm diagrams --flow table_flow:TableFlow --out <repo>/diagrams/table-flow``."""
    drawn = README.parent / "diagrams" / "table-flow"
    check = ["-m", "voicefsm", "diagrams", "--flow", "table_flow:TableFlow", "--out", str(drawn)]
    result = _run(project, *check, "--check")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    assert "![TableFlow" in TEXT
    assert "(diagrams/table-flow/flow.svg)" in TEXT


@pytest.mark.slow
def test_the_readers_flow_tests_pass_as_written(project: Path) -> None:
    result = _run(
        project,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "test_table_flow.py",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout  # the walk, and each of the four edges both ways


@pytest.mark.slow
def test_the_readers_files_pass_mypy_strict_and_a_mistaken_flow_does_not(project: Path) -> None:
    """What a reader copies passes ``mypy --strict`` as written (typed ``RunContext``, hook
    writes of a ``dict[str, object]``), so a project with strict typing can start from it. A flow
    is typed too: its data model, its guards (over that model), its nodes and edges, so the
    README's flow with a mistake fails.

    One mypy run for both (it spends its time on voicefsm and livekit, which every file
    imports): two runs cost a minute of CPU more and were the suite's longest tests."""
    written = (project / "table_flow.py").read_text()
    wrong = 'requires=("party_size", "day")'
    assert wrong in written
    (project / "mistaken_flow.py").write_text(written.replace(wrong, 'requires=["party_size"]'))
    files = ["agent.py", "test_hooks.py", "test_turns.py", "table_flow.py", "mistaken_flow.py"]
    result = _run(
        project,
        *("-m", "mypy", "--strict", "--no-incremental", *files),
        env={"MYPYPATH": str(project)},
        timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[0] for line in errors] == ["mistaken_flow.py"], (
        result.stdout + result.stderr
    )
    assert 'Argument "requires" to "to" of "Node" has incompatible type "list[str]"' in errors[0]
    assert f"Found 1 error in 1 file (checked {len(files)} source files)" in result.stdout


@pytest.mark.slow
def test_livekits_own_cli_discovers_and_starts_the_readers_server(project: Path) -> None:
    """``python -m livekit.agents start agent.py`` finds the module's ``server``, runs voicefsm's
    worker start-up, then tries to reach LiveKit (nothing listens on 127.0.0.1 here)."""
    env = {
        "LIVEKIT_URL": f"ws://127.0.0.1:{free_port()}",
        "LIVEKIT_API_KEY": "lk-key",
        "LIVEKIT_API_SECRET": "lk-secret-value-0123456789abcdefghijklmnop",
        "DEEPGRAM_API_KEY": "dg-secret-value",
        "ELEVEN_API_KEY": "el-secret-value",
        "VOICEFSM_VAD": "none",
        "VOICEFSM_LIVEKIT_MAX_RETRY": "1",
        "VOICEFSM_IDLE_PROCESSES": "0",
    }
    result = _run(project, "-m", "livekit.agents", "start", "--dev", "agent.py", env=env)
    output = result.stdout + result.stderr
    assert "voicefsm worker starting" in output, output[-3000:]
    assert '"agent": "Clinic"' in output or "Clinic" in output
    assert "failed to connect to livekit" in output
    for secret in ("lk-secret-value", "dg-secret-value", "el-secret-value"):
        assert secret not in output


@pytest.mark.slow
async def test_livekits_console_in_text_mode_runs_the_readers_agent_through_the_lifecycle(
    project: Path, backend: Backend
) -> None:
    """``python -m livekit.agents console agent.py`` (no LiveKit server: the ``lk`` CLI's TCP
    console, here a stub speaking its protocol) in text mode: a typed turn is a turn of the
    lifecycle, answered by the agent's LLM and persisted once, and SIGTERM ends the call with
    its farewell, its hook and its summary."""
    with vendor_stubs() as vendors:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(project),
            "PYTHONPATH": str(project),
            "DEEPGRAM_API_KEY": DEEPGRAM_KEY,
            "VOICEFSM_DEEPGRAM_BASE_URL": f"{vendors.url}/v1/listen",
            "ELEVEN_API_KEY": ELEVEN_KEY,
            "VOICEFSM_ELEVENLABS_BASE_URL": f"{vendors.url}/v1",
            "VOICEFSM_LLM_BASE_URL": f"{vendors.url}/v1",
            "VOICEFSM_LLM_API_KEY": LLM_KEY,
            "VOICEFSM_LLM_MODEL": "stub-model",
            "VOICEFSM_VAD": "none",
            "VOICEFSM_BACKEND_URL": backend.url,
            "VOICEFSM_SPOOL_PATH": str(project / "spool.sqlite3"),
        }
        async with lk_console() as console:
            agent = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "livekit.agents", "console", "agent.py"),
                *("--connect-addr", f"127.0.0.1:{console.port}"),
                cwd=project,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                async with console.session(timeout=60) as remote:
                    answer = await remote.run("Do you have anything on Monday", timeout=30)
                agent.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(agent.wait(), 60) == 0
            finally:
                if agent.returncode is None:
                    agent.kill()
                    await agent.wait()

    said = [
        " ".join(part.text for part in item.message.content)
        for item in answer.items
        if item.HasField("message")
    ]
    assert any("Thanks, I heard: Do you have anything on Monday" in text for text in said)
    with sqlite3.connect(backend.database) as db:
        messages = list(
            db.execute("SELECT role, text FROM events WHERE kind = 'message' ORDER BY at, id")
        )
        apps = [
            json.loads(p)["name"]
            for (p,) in db.execute("SELECT payload FROM events WHERE kind = 'app'")
        ]
        [(summary,)] = list(db.execute("SELECT summary FROM sessions"))
    # The greeting is cut short when the console turns audio off; whether any of it was said
    # (and so stored) depends on timing. The turn and the farewell are stored once each.
    greeting = "Elm Street clinic, good morning! How can I help?"
    assert [(role, text[:22]) for role, text in messages if text != greeting] == [
        ("user", "Do you have anything o"),
        ("assistant", "Thanks, I heard: Do yo"),
        ("assistant", "Thank you for calling "),
    ]
    assert apps == ["call_filed"]
    stored = json.loads(summary)
    triggers = [entry["trigger"] for entry in stored["timeline"]]
    turn = triggers.index("user_turn_completed")  # after the greeting, however it went
    assert triggers[turn : turn + 4] == [
        "user_turn_completed",
        "reply_started",
        "reply_finished",
        "hang_up",
    ]
    assert stored["end_reason"] == "hang_up"
