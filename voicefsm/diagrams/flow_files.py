"""The files a flow (or a graph of agents) adds to a diagrams folder, and its README section:
the Mermaid, then a table of every node and every edge, so the picture's shorthand is spelt
out once."""

from __future__ import annotations

from collections.abc import Callable

from voicefsm.diagrams import flow_dot, flow_mermaid
from voicefsm.diagrams.flow_model import FlowDiagram


def stem(diagram: FlowDiagram) -> str:
    """The files' name: ``flow`` for a flow, ``agents`` for code-first agents."""
    return diagram.subject


def render_flow(diagram: FlowDiagram, render_svg: Callable[[str], str]) -> dict[str, str]:
    """``flow.mmd``, ``flow.dot`` and ``flow.svg`` (or ``agents.*``), by name."""
    name = stem(diagram)
    dot_source = flow_dot.render(diagram)
    return {
        f"{name}.mmd": flow_mermaid.render(diagram),
        f"{name}.dot": dot_source,
        f"{name}.svg": render_svg(dot_source),
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_section(diagram: FlowDiagram) -> list[str]:
    """The diagram's section of a diagrams README (Mermaid and tables), as lines."""
    name = stem(diagram)
    what = "node" if diagram.subject == "flow" else "agent"
    lines = [
        f"## {diagram.title}",
        "",
        f"Also as [SVG]({name}.svg) (from [DOT]({name}.dot)). Solid arrows are the model's",
        "tools; dashed ones are taken by code, by themselves (auto) or are tasks.",
        "",
        "```mermaid",
        flow_mermaid.render(diagram).rstrip("\n"),
        "```",
        "",
        f"| {what} | | what it does |",
        "|---|---|---|",
    ]
    for box in diagram.boxes:
        marks = ", ".join(mark for mark, on in (("first", box.initial), ("final", box.final)) if on)
        lines.append(f"| `{box.name}` | {marks} | {_cell('; '.join(box.lines)) or '—'} |")
    lines += ["", "| from | to | taken by | guards and effects |", "|---|---|---|---|"]
    for arrow in diagram.arrows:
        rest = "; ".join(arrow.lines[1:]) or "—"
        lines.append(
            f"| `{arrow.source}` | `{arrow.target}` | `{_cell(arrow.lines[0])}` | {_cell(rest)} |"
        )
    if diagram.notes:
        lines += ["", *(f"* {_cell(note)}" for note in diagram.notes)]
    return [*lines, ""]


def describe(diagram: FlowDiagram) -> str:
    """The diagram as plain text, for a terminal: each node and the ways out of it."""
    lines = [f"{diagram.title}: {len(diagram.boxes)} nodes, {len(diagram.arrows)} edges", ""]
    for box in diagram.boxes:
        marks = "".join(f" ({m})" for m, on in (("first", box.initial), ("final", box.final)) if on)
        lines.append(f"{box.name}{marks}" + (f": {'; '.join(box.lines)}" if box.lines else ""))
        for arrow in diagram.arrows:
            if arrow.source == box.name:
                lines.append(f"    --{' / '.join(arrow.lines)}--> {arrow.target}")
    lines += [f"note: {note}" for note in diagram.notes]
    return "\n".join(lines)
