"""Flows and code-first agents are drawn from their definitions: every node, edge, guard, tool,
task and handoff in the picture, byte-stable, readable at a README's width, checked for drift."""

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
from voicefsm.diagrams import flow_dot, flow_files, flow_mermaid
from voicefsm.diagrams.flow_model import FlowArrow, FlowBox, agents_diagram, flow_diagram
from voicefsm.examples import bistro as bistro_module
from voicefsm.examples.booking import BookingFlow
from voicefsm.flows import load_flow

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = "voicefsm.examples.booking:BookingAgent"


def test_a_flow_is_extracted_with_what_each_node_and_edge_does() -> None:
    drawing = flow_diagram(BookingFlow.definition)
    boxes = {box.name: box for box in drawing.boxes}
    assert boxes["greet"] == FlowBox("greet", (), "node", initial=True)
    assert boxes["collect"].lines == (
        "collects: party_size, day, time",
        "tools: check_availability",
    )
    assert boxes["confirm"].lines == ("collects: confirmed", "context: summarise")
    assert boxes["email"] == FlowBox("email", ("task: GetEmailTask → email",), "task")
    assert boxes["events"] == FlowBox(
        "events", ("hands off to: EventsDesk",), "handoff", final=True
    )
    assert boxes["goodbye"].final
    arrows = {arrow.lines[0]: arrow for arrow in drawing.arrows}
    assert arrows["details_complete"] == FlowArrow(
        "collect", "confirm", ("details_complete", "[requires party_size, day, time]"), "tool"
    )
    assert arrows["large_party"].lines[1] == "[is_large_party]"
    assert arrows["confirmed_yes (auto)"].lines[1:] == ("[confirmed = true]",)
    assert arrows["booked (code)"].kind == "code"
    assert arrows["change_details"].lines[1:] == ("clears confirmed",)
    assert drawing.notes == ("every node also offers: hang_up",)


def test_every_node_and_edge_is_in_both_renderings() -> None:
    drawing = flow_diagram(BookingFlow.definition)
    mermaid, dot = flow_mermaid.render(drawing), flow_dot.render(drawing)
    assert mermaid.startswith('---\ntitle: "BookingFlow: its conversation flow"\n')
    for node in BookingFlow.definition.nodes:
        assert f"<b>{node.name}</b>" in mermaid
        assert f'"{node.name}" [label="{node.name}' in dot
    for edge in BookingFlow.definition.edges:
        assert f'|"{edge.name}' in mermaid
        assert f'[label="{edge.name}' in dot
    assert 'n_book -.->|"booked (code)"| n_anything_else' in mermaid
    assert '"events" [label="events\\nhands off to: EventsDesk", shape=hexagon' in dot
    assert "peripheries=2" in dot


def test_a_flow_file_draws_exactly_as_the_same_flow_in_python() -> None:
    from_file = load_flow(REPO / "voicefsm" / "examples" / "booking.yaml")
    assert flow_mermaid.render(flow_diagram(from_file.definition)) == flow_mermaid.render(
        flow_diagram(BookingFlow.definition)
    )


def test_code_first_agents_are_drawn_with_their_tools_tasks_and_what_did_not_resolve() -> None:
    from tests.agent.test_agent_graph import Reception  # noqa: PLC0415 (livekit agents)
    from voicefsm.agent import agent_graph  # noqa: PLC0415

    drawing = agents_diagram(agent_graph(Reception))
    assert drawing.subject == "agents"
    mermaid = flow_mermaid.render(drawing)
    assert 'n_Reception -.->|"start_survey<br/>(awaits)"| n_Survey' in mermaid
    assert 'n_Survey -.->|"done"| n_Reception' in mermaid
    assert 'n_Reception -->|"to_billing"| n_Billing' in mermaid
    assert "<b>Billing</b><br/>tools: refund" in mermaid
    readme = "\n".join(flow_files.readme_section(drawing))
    assert "* not resolved: Reception.transfer: returns Agent, not which one" in readme


def _outputs_across_hash_seeds(code: str) -> set[str]:
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


def test_a_flow_drawing_is_byte_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from voicefsm.diagrams import flow_dot, flow_mermaid\n"
        "from voicefsm.diagrams.flow_model import flow_diagram\n"
        "from tests.flows.tables import TableFlow\n"
        "d = flow_diagram(TableFlow.definition)\n"
        "print(flow_mermaid.render(d) + flow_dot.render(d))"
    )
    assert len(_outputs_across_hash_seeds(code)) == 1


@pytest.mark.slow
def test_agents_drawings_are_byte_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from voicefsm.diagrams import flow_dot, flow_mermaid\n"
        "from voicefsm.diagrams.flow_model import agents_diagram, flow_diagram\n"
        "from voicefsm.examples.booking import BookingFlow\n"
        "from voicefsm.agent import agent_graph\n"
        "from tests.agent.test_agent_graph import Reception\n"
        "for d in (flow_diagram(BookingFlow.definition), agents_diagram(agent_graph(Reception))):\n"
        "    print(flow_mermaid.render(d) + flow_dot.render(d))"
    )
    assert len(_outputs_across_hash_seeds(code)) == 1


def test_the_flow_svg_reads_at_a_readme_width() -> None:
    """Scaled to 900 px wide, no text is under 12 px (Chromium screenshots were checked by eye
    at that width too)."""
    svg = diagrams.render_flow_only(flow_diagram(BookingFlow.definition))["flow.svg"]
    width = float(re.search(r'width="([\d.]+)pt"', svg).group(1))  # type: ignore[union-attr]
    scale = min(1.0, 900 / (width * 4 / 3))
    smallest = min(float(size) for size in re.findall(r'font-size="([\d.]+)"', svg))
    assert smallest * 4 / 3 * scale >= 12


def test_the_agents_flow_is_drawn_beside_its_lifecycle_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagrams", "--agent", EXAMPLE, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md",
        "flow.dot",
        "flow.mmd",
        "flow.svg",
        "lifecycle.dot",
        "lifecycle.mmd",
        "lifecycle.svg",
    ]
    assert "BookingFlow: its conversation flow: 8 nodes, 10 edges" in printed
    readme = (tmp_path / "README.md").read_text()
    assert "## BookingAgent: tools and hooks" in readme
    assert "## BookingFlow: its conversation flow" in readme
    assert (
        "| `collect` | `confirm` | `details_complete` | [requires party_size, day, time] |"
        in readme
    )
    assert main(["diagrams", "--agent", EXAMPLE, "--out", str(tmp_path), "--check"]) == 0
    assert "7 files match the lifecycle and the flow" in capsys.readouterr().out
    (tmp_path / "flow.mmd").write_text("stale")
    assert main(["diagrams", "--agent", EXAMPLE, "--out", str(tmp_path), "--check"]) == 1


def test_a_flow_is_drawn_on_its_own_from_a_file_or_a_class(tmp_path: Path) -> None:
    yaml_out, class_out = tmp_path / "yaml", tmp_path / "class"
    flow_file = str(REPO / "voicefsm" / "examples" / "booking.yaml")
    assert main(["diagrams", "--flow", flow_file, "--out", str(yaml_out), "-q"]) == 0
    assert (
        main(
            [
                "diagrams",
                "--flow",
                "voicefsm.examples.booking:BookingFlow",
                "--out",
                str(class_out),
                "-q",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in yaml_out.iterdir()) == [
        "README.md",
        "flow.dot",
        "flow.mmd",
        "flow.svg",
    ]
    for name in ("flow.mmd", "flow.dot", "flow.svg"):
        assert (yaml_out / name).read_text() == (class_out / name).read_text()
    assert main(["diagrams", "--flow", flow_file, "--out", str(class_out), "--check"]) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--flow", "nowhere.yaml"], "nowhere.yaml: cannot read it"),
        (["--flow", "voicefsm.examples.booking"], "expected FILE.yaml or MODULE:ATTR"),
        (["--flow", "voicefsm.examples.booking:TableRequest"], "TableRequest is not a Flow class"),
        (["--flow", "voicefsm.nothing_here:Flow"], "ModuleNotFoundError"),
        (["--flow", "x.yaml", "--agent", EXAMPLE], "--agent and --flow draw different things"),
    ],
)
def test_a_flow_that_cannot_be_drawn_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["diagrams", "--out", str(tmp_path), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("voicefsm diagrams: ")
    assert message in error
    assert "Traceback" not in error


@pytest.mark.slow
def test_check_fails_with_a_diff_after_an_unredrawn_flow_change(tmp_path: Path) -> None:
    """Edit the example flow in a copy of the package; --check must fail naming the new edge."""
    out = tmp_path / "drawn"
    assert main(["diagrams", "--agent", EXAMPLE, "--out", str(out), "-q"]) == 0
    package = tmp_path / "voicefsm"
    shutil.copytree(REPO / "voicefsm", package, ignore=shutil.ignore_patterns("__pycache__"))
    example = package / "examples" / "booking.py"
    original = "nothing_else = anything_else.to(goodbye)"
    assert original in example.read_text()
    example.write_text(
        example.read_text().replace(original, "all_done = anything_else.to(goodbye)")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicefsm",
            "diagrams",
            "--agent",
            EXAMPLE,
            "--out",
            str(out),
            "--check",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert '+  n_anything_else -->|"all_done"| n_goodbye' in result.stdout
    assert "differ from the code" in result.stderr


def test_the_example_agents_flow_drawing_is_committed_and_a_changed_node_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's picture of the example agent (``diagrams/bistro``) is what its flow draws;
    renaming a node, or adding an edge, makes ``--check`` fail."""
    bistro = "voicefsm.examples.bistro:BistroAgent"
    committed = Path(__file__).resolve().parents[1] / "diagrams" / "bistro"
    assert main(["diagrams", "--agent", bistro, "--out", str(committed), "--check"]) == 0
    assert "7 files match the lifecycle and the flow" in capsys.readouterr().out
    source = Path(bistro_module.__file__).read_text()
    for name, changed in [
        ("renamed", source.replace("anything_else", "more_help")),
        (
            "more",
            source.replace(
                "    nothing_else = ", "    back = anything_else.to(greet)\n    nothing_else = "
            ),
        ),
    ]:
        (tmp_path / f"{name}.py").write_text(changed)
        spec = f"{tmp_path / name}.py:BistroAgent"
        assert main(["diagrams", "--agent", spec, "--out", str(committed), "--check"]) == 1, name
