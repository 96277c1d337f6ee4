"""The diagram as DOT (rendered to SVG by the pinned graphviz-pure), laid out for a page:
top to bottom, the live states in one box, one arrow out of it for every way a call ends."""

from __future__ import annotations

from voicefsm.diagrams.model import LIVE_BOX, Arrow, Diagram, StateBox
from voicefsm.lifecycle import State

_FONT = 'fontname="Helvetica"'
_CLUSTER = "cluster_live"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrapped(words: tuple[str, ...], lead: str, width: int = 44) -> list[str]:
    """``lead`` and the words, comma-separated, in lines of at most ``width`` characters."""
    lines, line = [], lead
    for index, word in enumerate(words):
        piece = word + ("," if index < len(words) - 1 else "")
        if len(line) + 1 + len(piece) > width and line.strip():
            lines.append(line)
            line = "  " + piece
        else:
            line = f"{line} {piece}" if line else piece
    return [*lines, line]


def _node(node: StateBox) -> str:
    lines = [node.state.value]
    if node.stays:
        lines.extend(_wrapped(node.stays, "stays on:"))
    lines.extend(node.notes)
    label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    fill = "#eef4fb" if node.live else "#f6f6f6"
    return (
        f'    {node.state.value} [label="{label}", shape=box, style="rounded,filled", '
        f'fillcolor="{fill}", {_FONT}, fontsize=12];'
    )


def _arrow(arrow: Arrow, anchor: State) -> str:
    label = "\\n".join(
        text.replace('"', '\\"') for text in (arrow.label.replace(" | ", " |\\n"), *arrow.hooks)
    )
    if arrow.source is None:
        # From the box as a whole: drawn from one of its states, clipped at the box.
        return (
            f'  {anchor.value} -> {arrow.dest.value} [ltail={_CLUSTER}, label="{label}", '
            f"{_FONT}, fontsize=11, penwidth=1.6];"
        )
    return f'  {arrow.source.value} -> {arrow.dest.value} [label="{label}", {_FONT}, fontsize=11];'


def _box(diagram: Diagram) -> str:
    if not diagram.in_call:
        return _quote(LIVE_BOX)
    lines = [LIVE_BOX, *_wrapped(diagram.in_call, "every state stays on:")]
    return '"' + "\\n".join(line.replace('"', '\\"') for line in lines) + '"'


def render(diagram: Diagram) -> str:
    live = [node for node in diagram.nodes if node.live]
    rest = [node for node in diagram.nodes if not node.live]
    lines = [
        "digraph lifecycle {",
        f"  graph [label={_quote(diagram.title)}, labelloc=t, {_FONT}, fontsize=16, "
        "compound=true, rankdir=TB, nodesep=0.35, ranksep=0.45];",
        "  start [shape=point, width=0.15];",
        '  finish [shape=doublecircle, label="", width=0.12];',
        f"  subgraph {_CLUSTER} {{",
        f'    graph [label={_box(diagram)}, style="rounded,dashed", {_FONT}, fontsize=13];',
        *(_node(node) for node in live),
        "  }",
        *(_node(node).replace("    ", "  ", 1) for node in rest),
        f"  start -> {live[0].state.value};",
        *(_arrow(arrow, State.SPEAKING) for arrow in diagram.arrows),
        f"  {rest[-1].state.value} -> finish;",
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"
