"""``--agent``: every way to name an agent works, and every mistake is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicefsm.examples.bistro import BistroAgent
from voicefsm.worker.loading import AgentLoadError, load_agent

AGENT = """
from voicefsm.agent import VoiceAgent
import voicefsm


class Desk(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="desk")


def make() -> VoiceAgent:
    return Desk()


def not_an_agent() -> str:
    return "nope"


class Needy(VoiceAgent):
    def __init__(self, menu: str) -> None:
        super().__init__(instructions=menu)


class Faulty(VoiceAgent):
    def __init__(self) -> None:
        raise RuntimeError("no menu today")


class Quitter(VoiceAgent):
    def __init__(self) -> None:
        import sys

        sys.exit(9)


instance = Desk()
server = voicefsm.build_server(Desk)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "desk_agent.py").write_text(AGENT)
    (tmp_path / "broken_agent.py").write_text("import voicefsm\nraise RuntimeError('oops')\n")
    (tmp_path / "exiting_agent.py").write_text("import sys\nsys.exit(7)\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "spec",
    ["desk_agent:Desk", "desk_agent.py:Desk", "desk_agent:server", "desk_agent", "desk_agent:make"],
)
def test_each_form_of_the_path_gives_a_factory_of_fresh_agents(project: Path, spec: str) -> None:
    factory = load_agent(spec)
    first, second = factory(), factory()
    assert type(first).__name__ == "Desk"
    assert first is not second


def test_the_example_agent_is_found_by_its_module_path() -> None:
    assert load_agent("voicefsm.examples.bistro:BistroAgent") is BistroAgent
    assert load_agent("voicefsm.examples.bistro") is BistroAgent  # its one VoiceAgent


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:Agent", "no module named 'no_such_module'"),
        ("missing.py", "no file missing.py"),
        ("desk_agent:Nobody", "desk_agent has no attribute 'Nobody'"),
        ("desk_agent:instance", "is a VoiceAgent instance: pass its class"),
        ("desk_agent:not_an_agent", "desk_agent:not_an_agent() returned a str, not a VoiceAgent"),
        ("os:sep", "is a str, not a VoiceAgent subclass"),
        ("broken_agent", "importing broken_agent failed: RuntimeError: oops"),
        ("desk_agent:", "is not MODULE:ATTR"),
        ("desk_agent:Needy", "calling desk_agent:Needy() failed: TypeError"),
        ("desk_agent:Faulty", "calling desk_agent:Faulty() failed: RuntimeError: no menu today"),
    ],
)
def test_a_wrong_path_says_in_one_line_what_is_wrong(
    project: Path, spec: str, message: str
) -> None:
    with pytest.raises(AgentLoadError) as caught:
        load_agent(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "spec", "message"),
    [
        ("simulate", "desk_agent:Nobody", "desk_agent has no attribute 'Nobody'"),
        ("diagrams", "desk_agent:Nobody", "desk_agent has no attribute 'Nobody'"),
        ("start", "desk_agent:Nobody", "desk_agent has no attribute 'Nobody'"),
        ("dev", "missing.py", "no file missing.py"),
        ("start", "os:sep", "os:sep is a str, not a VoiceAgent subclass, a function returning"),
        # A constructor that needs arguments: once a traceback, and simulate waited 600 s.
        ("simulate", "desk_agent:Needy", "calling desk_agent:Needy() failed: TypeError: "),
        ("diagrams", "desk_agent:Faulty", "calling desk_agent:Faulty() failed: RuntimeError"),
        # Agent code that exits: once exit 7 or 9 with nothing on stderr.
        ("simulate", "exiting_agent", "importing exiting_agent called sys.exit(7) ("),
        ("simulate", "desk_agent:Quitter", "calling desk_agent:Quitter() called sys.exit(9) ("),
        ("start", "exiting_agent.py", "importing exiting_agent.py called sys.exit(7) ("),
    ],
)
def test_the_commands_exit_2_with_one_line_and_no_traceback(
    project: Path, command: str, spec: str, message: str
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(project),
        "LIVEKIT_URL": "wss://example.invalid",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
        "DEEPGRAM_API_KEY": "d",
        "ELEVEN_API_KEY": "e",
    }
    result = subprocess.run(
        [sys.executable, "-m", "voicefsm", command, "--agent", spec],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"voicefsm {command}: {message}")
    assert result.stderr.count("\n") == 1  # one line, no traceback
