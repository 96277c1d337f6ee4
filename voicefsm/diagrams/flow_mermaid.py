"""A flow diagram as a Mermaid ``flowchart`` (GitHub renders it): a shape per kind of node
(a rounded box; a stadium when final; a subroutine for a task; a hexagon for a handoff), solid
arrows for the model's tools, dotted ones for code, automatic edges and tasks."""

from __future__ import annotations

import json

from voicefsm.diagrams.flow_model import FlowArrow, FlowBox, FlowDiagram

_START = "start_"
_SHAPES = {
    "node": ('("', '")'),
    "agent": ('("', '")'),
    "final": ('(["', '"])'),
    "task": ('[["', '"]]'),
    "handoff": ('{{"', '"}}'),
}


def _text(text: str) -> str:
    # Names, field and tool names, labels: only a double quote could end a label early.
    return text.replace('"', "#quot;")


def _id(name: str) -> str:
    return f"n_{name}"


def _box(box: FlowBox) -> str:
    opening, closing = _SHAPES["final" if box.final and box.kind == "node" else box.kind]
    body = "<br/>".join([f"<b>{_text(box.name)}</b>", *(_text(line) for line in box.lines)])
    return f"  {_id(box.name)}{opening}{body}{closing}"


def _short_lines(text: str, width: int = 18) -> list[str]:
    """``text`` in lines of about ``width`` characters, broken between words: Mermaid lays the
    labels of two arrows running both ways between two nodes over each other unless they are
    narrow (measured at 900 px in Chromium)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _arrow(arrow: FlowArrow) -> str:
    line = "-->" if arrow.kind == "tool" else "-.->"
    label = "<br/>".join(_text(part) for text in arrow.lines for part in _short_lines(text))
    return f'  {_id(arrow.source)} {line}|"{label}"| {_id(arrow.target)}'


def render(diagram: FlowDiagram) -> str:
    """The Mermaid text of ``diagram``, ending in a newline."""
    initial = next(box.name for box in diagram.boxes if box.initial)
    lines = [
        "---",
        f"title: {json.dumps(diagram.title)}",  # quoted: a title has a colon in it
        "config:",
        "  themeVariables:",
        "    fontSize: 16px",
        "  flowchart:",  # room between labels, and lines long enough not to break a guard
        "    nodeSpacing: 80",
        "    rankSpacing: 70",
        "    wrappingWidth: 320",
        "---",
        "flowchart TD",
        f"  {_START}((start))",
        *(_box(box) for box in diagram.boxes),
        f"  {_START} --> {_id(initial)}",
        *(_arrow(arrow) for arrow in diagram.arrows),
    ]
    return "\n".join(lines) + "\n"
