"""``pip install voicefsm`` is the agent side; the reference backend is the ``backend`` extra.

The agent side is run here with the backend's dependencies made unimportable, as a fresh
environment without the extra has them: the package imports, the worker and a session can be
built, and the commands that need the backend say in one line which extra to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND_ONLY = ("fastapi", "uvicorn", "sqlalchemy", "aiosqlite", "asyncpg")

#: Run first in each child: the backend's packages are not there.
WITHOUT_BACKEND = f"""
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BACKEND_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VOICEFSM_BACKEND_URL"}
    env["XDG_DATA_HOME"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_BACKEND + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )


def _cli(*args: str) -> str:
    return f"import sys; from voicefsm.cli import main; sys.exit(main({list(args)!r}))"


def test_the_backends_dependencies_are_only_in_its_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert not [name for name in BACKEND_ONLY if name in required]
    extras = project["optional-dependencies"]
    assert all(any(dep.startswith(name) for dep in extras["backend"]) for name in BACKEND_ONLY)
    assert any("backend" in dep for dep in extras["dev"] if dep.startswith("voicefsm["))
    # What `voicefsm diagrams` needs (the SVG renderer among it) comes with the agent side.
    assert "graphviz-pure" in required


def test_the_agent_side_runs_without_the_backend(tmp_path: Path) -> None:
    code = (
        "import voicefsm\n"
        "from voicefsm import VoiceAgent, VoiceSession, build_server, open_session\n"
        "import voicefsm.simulation.runner, voicefsm.worker.entrypoint\n"
        "build_server(VoiceAgent)\n" + _cli("simulate", "--help")
    )
    run = _run(code, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "usage: voicefsm simulate" in run.stdout


def test_the_backend_command_names_the_extra_to_install(tmp_path: Path) -> None:
    run = _run(_cli("backend"), tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "voicefsm backend: the reference backend is not installed: pip install 'voicefsm[backend]'"
    )


def test_simulate_without_a_backend_url_names_the_extra_to_install(tmp_path: Path) -> None:
    run = _run(_cli("simulate"), tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("voicefsm simulate: the reference backend is not")
    assert "pip install 'voicefsm[backend]'" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_diagrams_are_drawn_without_any_extra(tmp_path: Path) -> None:
    """Drawing an agent for its docs is part of the agent side: ``voicefsm diagrams`` writes the
    lifecycle's Mermaid, DOT and SVG with the backend's packages absent."""
    run = _run(_cli("diagrams", "--out", str(tmp_path / "drawn")), tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "drawn" / "lifecycle.svg").read_text().lstrip().startswith("<")
    assert "stateDiagram" in (tmp_path / "drawn" / "lifecycle.mmd").read_text()
