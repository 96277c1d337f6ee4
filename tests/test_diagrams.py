"""The committed diagrams are what the code generates, byte for byte, and drift is caught."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicefsm import diagrams
from voicefsm.cli import main
from voicefsm.diagrams import dot, model
from voicefsm.diagrams import mermaid as mermaid_renderer
from voicefsm.diagrams.model import AgentShape, HookMark, build
from voicefsm.lifecycle import STATES, TRANSITIONS, State
from voicefsm.lifecycle.states import ENDING_TRIGGERS, LIVE_STATES
from voicefsm.lifecycle.table import ACTION_EFFECTS

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


def _outputs_across_hash_seeds(code: str) -> set[str]:
    """What ``code`` prints, run in fresh interpreters under three hash seeds."""
    return {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
        ).stdout
        for seed in ("0", "1", "12345")
    }


def test_output_is_byte_stable_across_processes_and_hash_seeds() -> None:
    """Mermaid and DOT come out the same whatever the interpreter's hash seed."""
    code = (
        "from voicefsm.diagrams import dot, mermaid\n"
        "from voicefsm.diagrams.model import build\n"
        "print(mermaid.render(build()) + dot.render(build()))"
    )
    assert len(_outputs_across_hash_seeds(code)) == 1


def test_mermaid_has_a_title_and_marks_start_and_end() -> None:
    mermaid = diagrams.render_all()["lifecycle.mmd"]
    assert mermaid.startswith("---\ntitle: Voice session lifecycle\n")
    assert "\n---\nstateDiagram-v2\n" in mermaid
    assert "[*] --> joining" in mermaid
    assert mermaid.endswith("exiting --> [*]\n")
    assert "classDef" not in mermaid  # nothing highlighted in committed docs


def test_every_state_is_in_every_format_and_every_effect_in_the_table() -> None:
    files = diagrams.render_all()
    for spec in STATES:
        for text in (files["lifecycle.mmd"], files["lifecycle.dot"], files["lifecycle.svg"]):
            assert spec.state.value in text
        for action in (*spec.on_enter, *spec.on_exit):
            assert (
                f"`{action.value}`: {ACTION_EFFECTS[action].label or 'bookkeeping'}"
                in (files["README.md"])
            )


def test_the_live_states_share_one_box_and_one_arrow_for_every_way_a_call_ends() -> None:
    """The drawing fits a page: six live states in "in call", one edge out of it carrying
    every ending trigger (24 edges of the table), no self-loops drawn."""
    diagram = build()
    assert {node.state for node in diagram.nodes if node.live} == set(LIVE_STATES)
    [ending] = [arrow for arrow in diagram.arrows if arrow.source is None]
    assert (ending.dest, set(ending.triggers)) == (State.PERSISTING, set(ENDING_TRIGGERS))
    assert all(arrow.source is not arrow.dest for arrow in diagram.arrows)
    mermaid = diagrams.render_all()["lifecycle.mmd"]
    assert "in_call --> persisting: hang_up | participant_left | fatal_error | end_call" in mermaid
    # What stays in a state is named on it instead: the tool calls on thinking, for one.
    assert {"tool_started", "tool_finished", "handed_off"} <= set(
        diagram.node(State.THINKING).stays
    )


def test_the_svg_reads_at_a_readme_width() -> None:
    """Scaled to 900 px wide (what a README gives it), no text is under 12 px and the page is
    no wider than 2.5 times its height."""
    svg = diagrams.render_all()["lifecycle.svg"]
    width, height = (
        float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    )
    scale = min(1.0, 900 / (width * 4 / 3))
    smallest = min(float(size) for size in re.findall(r'font-size="([\d.]+)"', svg))
    assert smallest * 4 / 3 * scale >= 12
    assert width / height <= 2.5


def test_readme_embeds_the_mermaid_and_tables_every_transition() -> None:
    files = diagrams.render_all()
    readme = files["README.md"]
    assert f"```mermaid\n{files['lifecycle.mmd']}```" in readme
    rows = [line.split(" | ") for line in readme.splitlines() if line.startswith("| `")]
    assert len([row for row in rows if len(row) == 4]) == len(STATES)
    tabled = set()
    for trigger, sources, dest, guards, _ in (row for row in rows if len(row) == 5):
        named = set(re.findall(r"`(\w+)`", sources))
        if "any live state" in sources:
            named |= {state.value for state in LIVE_STATES}
        tabled |= {(trigger.strip("| `"), source, dest, guards) for source in named}
    # Every edge has its row (edges that differ only in their source share one).
    for edge in TRANSITIONS:
        dest = f"`{edge.dest.value}`" if edge.dest else "(stays, not re-entered)"
        guards = ", ".join(f"`{g.value}`" for g in edge.guards) or "—"
        assert (edge.trigger.value, edge.source.value, dest, guards) in tabled
    assert len(rows) < len(STATES) + len(TRANSITIONS)  # and the table reads in fewer rows


def test_svg_is_rendered_by_the_pinned_graphviz_pure() -> None:
    assert "graphviz-pure" in diagrams.render_all()["lifecycle.svg"]


def test_diagrams_command_writes_the_files_and_prints_the_lifecycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagrams", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(diagrams.render_all())
    assert f"8 states, {len(TRANSITIONS)} transitions" in out
    assert "--interrupted [is_current_turn]--> listening" in out


SHAPE = AgentShape(
    "Desk",
    tools=("lookup", "book"),
    hooks=(
        HookMark("greeted", "enter", "listening"),
        HookMark("leaving", "exit", "speaking"),
        HookMark("on_turn", "transition", "user_turn_completed"),
        HookMark("tool_done", "transition", "tool_finished"),
        HookMark("said", "transition", "spoke"),
    ),
)


def test_an_agents_tools_and_every_kind_of_hook_are_drawn_where_they_run() -> None:
    """Enter/exit hooks on their state, a hook on a state-changing trigger on its arrow, one on
    a transition that keeps its state (no arrow) on each state that takes it."""
    drawing = model.build(SHAPE)
    assert "tools: lookup, book" in drawing.node(State.THINKING).notes
    assert "on enter: greeted" in drawing.node(State.LISTENING).notes
    assert "on exit: leaving" in drawing.node(State.SPEAKING).notes
    assert any("on user_turn_completed: on_turn" in a.hooks for a in drawing.arrows)
    holders = [n.state for n in drawing.nodes if "on tool_finished: tool_done" in n.notes]
    assert State.THINKING in holders
    mermaid, dot_text = mermaid_renderer.render(drawing), dot.render(drawing)
    for text in ("on tool_finished: tool_done", "on exit: leaving", "tools: lookup, book"):
        assert text in mermaid
        assert text in dot_text


def test_an_agents_diagram_is_byte_stable_across_hash_seeds() -> None:
    code = (
        "from tests.test_diagrams import SHAPE\n"
        "from voicefsm.diagrams import dot, mermaid\n"
        "from voicefsm.diagrams.model import build\n"
        "print(mermaid.render(build(SHAPE)) + dot.render(build(SHAPE)))"
    )
    assert len(_outputs_across_hash_seeds(code)) == 1


def test_an_agents_title_is_quoted_so_mermaid_reads_its_colon_as_text() -> None:
    """Front matter is YAML: ``title: Desk: its voice lifecycle`` is a broken mapping there,
    and Mermaid then draws nothing at all (seen in Chromium with Mermaid 11)."""
    mermaid = mermaid_renderer.render(build(SHAPE))
    assert mermaid.startswith('---\ntitle: "Desk: its voice lifecycle"\n')
