"""A flow diagram as DOT (rendered to SVG by the pinned graphviz-pure), top to bottom: a box per
node (doubled when final, dashed for a task, a hexagon for a handoff), solid arrows for the
model's tools, dashed ones for code, automatic edges and tasks."""

from __future__ import annotations

from voicefsm.diagrams.flow_model import FlowArrow, FlowBox, FlowDiagram

_FONT = 'fontname="Helvetica"'
_FILL = {"node": "#eef4fb", "agent": "#eef4fb", "task": "#fdf6e3", "handoff": "#f6f6f6"}


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _box(box: FlowBox) -> str:
    label = "\\n".join(_escaped(line) for line in (box.name, *box.lines))
    shape = "hexagon" if box.kind == "handoff" else "box"
    style = "rounded,filled,dashed" if box.kind == "task" else "rounded,filled"
    extra = ", peripheries=2" if box.final else ""
    return (
        f'  "{_escaped(box.name)}" [label="{label}", shape={shape}, style="{style}", '
        f'fillcolor="{_FILL[box.kind]}"{extra}, {_FONT}, fontsize=12];'
    )


def _arrow(arrow: FlowArrow) -> str:
    label = "\\n".join(_escaped(line) for line in arrow.lines)
    style = "" if arrow.kind == "tool" else ", style=dashed"
    return (
        f'  "{_escaped(arrow.source)}" -> "{_escaped(arrow.target)}" '
        f'[label="{label}"{style}, {_FONT}, fontsize=11];'
    )


def render(diagram: FlowDiagram) -> str:
    """The DOT text of ``diagram``, ending in a newline."""
    initial = next(box.name for box in diagram.boxes if box.initial)
    lines = [
        "digraph flow {",
        f'  graph [label="{_escaped(diagram.title)}", labelloc=t, {_FONT}, fontsize=16, '
        "rankdir=TB, nodesep=0.4, ranksep=0.5];",
        "  _start [shape=point, width=0.15];",
        *(_box(box) for box in diagram.boxes),
        f'  _start -> "{_escaped(initial)}";',
        *(_arrow(arrow) for arrow in diagram.arrows),
        "}",
    ]
    return "\n".join(lines) + "\n"
