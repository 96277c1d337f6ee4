"""Draw the lifecycle from its table, and check that the committed drawings are current.

Mermaid and DOT text come from ``transitions``' own diagram support, on a fresh machine in its
initial state with styling reset, so they are byte-stable. The SVG is rendered from the DOT by
the pinned ``graphviz-pure`` binary, which reads no fonts or configuration of the host (the system
``dot`` lays out differently with every version and font set).
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from transitions import State as TransitionsState
from transitions.extensions import GraphMachine

from voicefsm.errors import DiagramError
from voicefsm.lifecycle.machine import machine_states, machine_transitions
from voicefsm.lifecycle.states import FINAL_STATE, INITIAL_STATE
from voicefsm.lifecycle.table import ACTION_EFFECTS, STATES, TRANSITIONS, Action, StateSpec

TITLE = "Voice session lifecycle"
SVG_RENDERER = "graphviz-pure"
Engine = Literal["mermaid", "graphviz"]


class _HasSource(Protocol):
    source: str


class _LabelledState(TransitionsState):
    """A state that carries the label a diagram shows for it."""

    # transitions' State takes many optional keywords; pass them through untouched.
    def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self.label = label


class _DiagramMachine(GraphMachine):
    state_cls = _LabelledState


def _effect_lines(spec: StateSpec) -> list[str]:
    """What a state does, for its node: effects started on entry, then on exit."""

    def labels(prefix: str, actions: Iterable[Action]) -> list[str]:
        return [f"{prefix} {ACTION_EFFECTS[a].label}" for a in actions if ACTION_EFFECTS[a].label]

    return labels("enter:", spec.on_enter) + labels("exit:", spec.on_exit)


def _graph_source(engine: Engine) -> str:
    # Mermaid breaks lines in HTML labels; DOT with a left-justifying escape.
    newline = "<br/>" if engine == "mermaid" else "\\l"
    labels = {
        spec.state.value: newline.join([spec.state.value, *_effect_lines(spec)]) for spec in STATES
    }
    states = [config | {"label": labels[config["name"]]} for config in machine_states()]
    model: object = type("DiagramModel", (), {})()
    machine = _DiagramMachine(
        model=model,
        states=states,
        transitions=machine_transitions(),
        initial=INITIAL_STATE.value,
        auto_transitions=False,
        graph_engine=engine,
        title=TITLE,
        show_conditions=True,
    )
    graph = machine.model_graphs[id(model)]
    graph.reset_styling()  # no "current state" highlight in committed docs
    # Both engines' graphs (a graphviz.Digraph, transitions' Mermaid mock) expose .source.
    return cast("_HasSource", graph.get_graph()).source


def render_mermaid() -> str:
    source = _graph_source("mermaid")
    # transitions 0.9.3 writes the title without its key, which Mermaid silently drops, and
    # does not mark the final state on a flat graph.
    source = source.replace(f"---\n{TITLE}\n---", f"---\ntitle: {TITLE}\n---", 1)
    return source.rstrip("\n") + f"\n  {FINAL_STATE.value} --> [*]\n"


def render_dot() -> str:
    return _graph_source("graphviz").rstrip("\n") + "\n"


def _svg_renderer() -> str:
    beside_python = Path(sysconfig.get_path("scripts")) / SVG_RENDERER
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SVG_RENDERER) or shutil.which(
        SVG_RENDERER, path=str(Path(sys.executable).parent)
    )
    if found is None:
        msg = f"{SVG_RENDERER} is not installed: pip install 'voicefsm[diagrams]'"
        raise DiagramError(msg)
    return found


def render_svg(dot: str) -> str:
    result = subprocess.run(  # noqa: S603 (a fixed binary, our own DOT on stdin)
        [_svg_renderer(), "-Tsvg"], input=dot, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = f"{SVG_RENDERER} failed ({result.returncode}): {result.stderr.strip()[:500]}"
        raise DiagramError(msg)
    return result.stdout


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def _actions(actions: Iterable[Action]) -> str:
    return "<br>".join(f"`{a.value}`: {ACTION_EFFECTS[a].label or 'bookkeeping'}" for a in actions)


def render_readme(mermaid: str) -> str:
    """``diagrams/README.md``: the Mermaid diagram (GitHub renders it) and what each state does."""
    state_rows = [
        [f"`{s.state.value}`", s.summary, _actions(s.on_enter) or "—", _actions(s.on_exit) or "—"]
        for s in STATES
    ]
    edge_rows = [
        [
            f"`{e.trigger.value}`",
            f"`{e.source.value}`",
            f"`{e.dest.value}`" if e.dest else "(stays, not re-entered)",
            ", ".join(f"`{g.value}`" for g in e.guards) or "—",
            _actions([*e.before, *e.after]) or "—",
        ]
        for e in TRANSITIONS
    ]
    lines = [
        f"# {TITLE}",
        "",
        "<!-- Generated by `voicefsm diagrams` from voicefsm/lifecycle/table.py. Do not edit:",
        "     change the table and regenerate; `voicefsm diagrams --check` fails until you do. -->",
        "",
        "Also as [DOT](lifecycle.dot) and [SVG](lifecycle.svg) (rendered by the pinned",
        "`graphviz-pure`, so the bytes do not depend on the host's Graphviz or fonts).",
        "",
        "```mermaid",
        mermaid.rstrip("\n"),
        "```",
        "",
        "## States and the effects they start",
        "",
        "Every effect only *starts* work (a task, a speech, an in-memory append, a hand-off to the",
        "outbox); its completion comes back as a trigger carrying the turn it belongs to.",
        "",
        *_markdown_table(["state", "meaning", "on enter", "on exit"], state_rows),
        "",
        "## Transitions",
        "",
        "Guards are checked in table order; for one (state, trigger) the first edge whose guards",
        "pass is taken. Any trigger not listed for a state is refused, logged and counted.",
        "",
        *_markdown_table(["trigger", "from", "to", "guards", "effects"], edge_rows),
        "",
    ]
    return "\n".join(lines)


def describe() -> str:
    """The lifecycle as plain text, for a terminal: each state, its effects and its exits."""
    lines = [f"{TITLE}: {len(STATES)} states, {len(TRANSITIONS)} transitions", ""]
    for spec in STATES:
        lines.append(f"{spec.state.value}: {spec.summary}")
        lines.extend(f"    {line}" for line in _effect_lines(spec))
        for edge in TRANSITIONS:
            if edge.source is spec.state:
                guards = f" [{', '.join(edge.guards)}]" if edge.guards else ""
                dest = edge.dest.value if edge.dest else "(stays)"
                lines.append(f"    --{edge.trigger.value}{guards}--> {dest}")
    return "\n".join(lines)


def render_all() -> dict[str, str]:
    """Every file of ``diagrams/``, by name, as the code generates it now."""
    mermaid, dot = render_mermaid(), render_dot()
    return {
        "lifecycle.mmd": mermaid,
        "lifecycle.dot": dot,
        "lifecycle.svg": render_svg(dot),
        "README.md": render_readme(mermaid),
    }


def write(directory: Path, files: Mapping[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = directory / name
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def drift(directory: Path, files: Mapping[str, str]) -> list[str]:
    """A unified diff for each file in ``directory`` that differs from ``files`` (or is missing)."""
    diffs = []
    for name, fresh in files.items():
        path = directory / name
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if committed != fresh:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        committed.splitlines(keepends=True),
                        fresh.splitlines(keepends=True),
                        fromfile=f"{path} (committed)",
                        tofile=f"{path} (generated)",
                    )
                )
                or f"{path}: missing\n"
            )
    return diffs
