"""A conversation flow (or a graph of code-first agents) as a picture sees it: extracted from
the definition, drawn by :mod:`.flow_mermaid` and :mod:`.flow_dot`.

A box per node, saying what the node collects, which of the agent's tools it offers, the task
it runs and where the result goes, the agent it hands the call to, and a context policy other
than keep; final nodes are marked. An arrow per edge, labelled with the tool the model calls to
take it (or "code", "auto") and its guards. Everything is walked in declaration order, so the
text is the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicefsm.flows.agents import AgentGraph
from voicefsm.flows.definition import EdgeSpec, FlowDefinition, NodeSpec
from voicefsm.flows.nodes import ContextPolicy

BoxKind = Literal["node", "task", "handoff", "agent"]
#: Who takes an arrow: the model (a tool), code, itself (auto); a task's call and return.
ArrowKind = Literal["tool", "code", "auto", "task", "return"]


@dataclass(frozen=True, slots=True)
class FlowBox:
    """A node as drawn: its name, what the picture says of it, its kind, where it stands."""

    name: str
    lines: tuple[str, ...]
    kind: BoxKind
    initial: bool = False
    final: bool = False


@dataclass(frozen=True, slots=True)
class FlowArrow:
    """An edge as drawn: ``lines[0]`` names who takes it, the rest its guards and effects."""

    source: str
    target: str
    lines: tuple[str, ...]
    kind: ArrowKind


@dataclass(frozen=True, slots=True)
class FlowDiagram:
    """What a flow picture shows; ``notes`` go under it (common tools, what did not resolve)."""

    title: str
    boxes: tuple[FlowBox, ...]
    arrows: tuple[FlowArrow, ...]
    notes: tuple[str, ...] = ()
    #: What the picture is of: a flow's nodes, or code-first agents.
    subject: Literal["flow", "agents"] = "flow"


def _box(node: NodeSpec, initial: str) -> FlowBox:
    lines = []
    if node.collects:
        lines.append(f"collects: {', '.join(node.collects)}")
    if node.tools:
        lines.append(f"tools: {', '.join(node.tools)}")
    if node.task is not None:
        stored = ", ".join(node.task.stores) or "nothing stored"
        lines.append(f"task: {node.task.label} → {stored}")
    if node.agent_label is not None:
        lines.append(f"hands off to: {node.agent_label}")
    if node.context is not ContextPolicy.KEEP:
        lines.append(f"context: {node.context.value}")
    kind: BoxKind = "task" if node.task else "handoff" if node.agent else "node"
    return FlowBox(node.name, tuple(lines), kind, node.name == initial, node.final)


def _arrow(edge: EdgeSpec) -> FlowArrow:
    kind: ArrowKind = "auto" if edge.auto else "tool" if edge.tool else "code"
    who = edge.name if kind == "tool" else f"{edge.name} ({kind})"
    lines = [who]
    if edge.guards:
        lines.append(f"[{edge.label}]")
    if edge.clears:
        lines.append(f"clears {', '.join(edge.clears)}")
    return FlowArrow(edge.source, edge.target, tuple(lines), kind)


def flow_diagram(definition: FlowDefinition, title: str | None = None) -> FlowDiagram:
    """The picture of a flow."""
    notes = []
    if definition.common_tools:
        notes.append(f"every node also offers: {', '.join(definition.common_tools)}")
    return FlowDiagram(
        title or f"{definition.name}: its conversation flow",
        tuple(_box(node, definition.initial) for node in definition.nodes),
        tuple(_arrow(edge) for edge in definition.edges),
        tuple(notes),
    )


def agents_diagram(graph: AgentGraph) -> FlowDiagram:
    """The picture of code-first agents: an agent a box (with its tools), a link an arrow
    labelled with the tool that takes it (a task's, dashed, and its way back)."""
    tasks = {link.target for link in graph.links if link.kind == "task"}
    boxes = tuple(
        FlowBox(
            name,
            (f"tools: {', '.join(graph.tools[name])}",) if graph.tools.get(name) else (),
            "task" if name in tasks else "agent",
            initial=name == graph.root,
        )
        for name in graph.agents
    )
    arrows: list[FlowArrow] = []
    for link in graph.links:
        if link.kind == "task":
            arrows.append(FlowArrow(link.source, link.target, (link.label, "(awaits)"), "task"))
            arrows.append(FlowArrow(link.target, link.source, ("done",), "return"))
        else:
            arrows.append(FlowArrow(link.source, link.target, (link.label,), "tool"))
    notes = tuple(f"not resolved: {problem}" for problem in graph.unresolved)
    return FlowDiagram(f"{graph.root}: its agents", boxes, tuple(arrows), notes, "agents")
