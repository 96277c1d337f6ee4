"""The committed diagrams are what the code generates, byte for byte, and drift is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicefsm import diagrams
from voicefsm.cli import main
from voicefsm.lifecycle import STATES, TRANSITIONS

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "diagrams"


def test_committed_diagrams_match_the_code() -> None:
    assert diagrams.drift(COMMITTED, diagrams.render_all()) == []


def test_check_passes_on_the_committed_diagrams(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagrams", "--check", "--out", str(COMMITTED)]) == 0
    assert "4 files match" in capsys.readouterr().out


def test_check_fails_with_a_diff_after_an_unregenerated_table_change(tmp_path: Path) -> None:
    """Edit the table in a copy of the package; --check must fail and show the changed edge."""
    package = tmp_path / "voicefsm"
    shutil.copytree(REPO / "voicefsm", package, ignore=shutil.ignore_patterns("__pycache__"))
    table = package / "lifecycle" / "table.py"
    original = "Edge(Trigger.PERSISTED, State.PERSISTING, State.EXITING),"
    assert original in table.read_text()
    mutated = original.replace("State.EXITING", "State.LISTENING")
    table.write_text(table.read_text().replace(original, mutated))

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "voicefsm", "diagrams", "--check", "--out", str(COMMITTED)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 1
    assert "+  persisting --> listening: persisted" in result.stdout
    assert "differ from the code" in result.stderr


def test_check_reports_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagrams", "--check", "--out", str(tmp_path)]) == 1
    assert "lifecycle.svg (generated)" in capsys.readouterr().out


def test_output_is_byte_stable_across_processes_and_hash_seeds() -> None:
    """Mermaid and DOT come out the same whatever the interpreter's hash seed."""
    code = "from voicefsm import diagrams; print(diagrams.render_mermaid() + diagrams.render_dot())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1


def test_mermaid_has_a_title_and_marks_start_and_end() -> None:
    mermaid = diagrams.render_mermaid()
    assert mermaid.startswith("---\ntitle: Voice session lifecycle\n---\nstateDiagram-v2\n")
    assert "[*] --> joining" in mermaid
    assert mermaid.endswith("exiting --> [*]\n")
    assert "s_active" not in mermaid.split("classDef s_active", 1)[1]  # nothing highlighted


def test_every_state_shows_its_effects_in_every_format() -> None:
    files = diagrams.render_all()
    for spec in STATES:
        for text in (files["lifecycle.mmd"], files["lifecycle.dot"], files["README.md"]):
            assert spec.state.value in text
    assert "enter: LLM + TTS: reply" in files["lifecycle.mmd"]
    assert "enter: LLM + TTS: reply\\l" in files["lifecycle.dot"]
    assert "enter: LLM + TTS: reply" in files["lifecycle.svg"]


def test_readme_embeds_the_mermaid_and_tables_every_transition() -> None:
    files = diagrams.render_all()
    readme = files["README.md"]
    assert f"```mermaid\n{files['lifecycle.mmd']}```" in readme
    assert readme.count("\n| `") == len(STATES) + len(TRANSITIONS)


def test_svg_is_rendered_by_the_pinned_graphviz_pure() -> None:
    assert "graphviz-pure" in diagrams.render_all()["lifecycle.svg"]


def test_diagrams_command_writes_the_files_and_prints_the_lifecycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagrams", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(diagrams.render_all())
    assert "8 states, 47 transitions" in out
    assert "--interrupted [is_current_turn]--> listening" in out
