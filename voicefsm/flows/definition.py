"""A flow as data: its nodes and edges frozen, by name, as the machine, the tools, the diagrams
and the generated tests read them. Built from a flow class's declarations (or a flow file's) by
:func:`build_definition`, which refuses a wrong flow with one error naming every node at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel

from voicefsm.errors import FlowDefinitionError
from voicefsm.flows.nodes import (
    ContextPolicy,
    FlowEdge,
    FlowGuard,
    Node,
    TaskStep,
    equals_guard,
    function_guard,
    guard_problems,
    requires_guard,
)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node of a defined flow (see :class:`~voicefsm.flows.nodes.Node` for the meaning)."""

    name: str
    instructions: str
    collects: tuple[str, ...]
    tools: tuple[str, ...]
    context: ContextPolicy
    final: bool
    task: TaskStep | None = None
    agent: Callable[..., object] | None = None

    @property
    def gathers(self) -> tuple[str, ...]:
        """Every field set in this node: those it collects, then those its task stores."""
        stored = tuple(self.task.stores) if self.task else ()
        return self.collects + tuple(name for name in stored if name not in self.collects)

    @property
    def agent_label(self) -> str | None:
        """The name of the agent a handoff node hands the call to."""
        if self.agent is None:
            return None
        return getattr(self.agent, "__name__", type(self.agent).__name__)


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """An edge of a defined flow: its name (the tool the model calls), its two nodes, its guards
    (all must hold), the fields it clears, and who takes it."""

    name: str
    source: str
    target: str
    guards: tuple[FlowGuard, ...] = ()
    clears: tuple[str, ...] = ()
    description: str | None = None
    tool: bool = True
    auto: bool = False

    @property
    def label(self) -> str:
        """The guards as a diagram shows them ("" without guards)."""
        return " and ".join(guard.label for guard in self.guards)


@dataclass(frozen=True)
class FlowDefinition:
    """A flow's nodes and edges in declaration order, the node it starts in, and the tools
    every node offers besides its own (``common_tools``)."""

    name: str
    data_model: type[BaseModel]
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    initial: str
    common_tools: tuple[str, ...] = ()

    @cached_property
    def _nodes(self) -> dict[str, NodeSpec]:
        return {node.name: node for node in self.nodes}

    @cached_property
    def _edges(self) -> dict[str, EdgeSpec]:
        return {edge.name: edge for edge in self.edges}

    @property
    def fields(self) -> tuple[str, ...]:
        """The data model's fields, in their declared order."""
        return tuple(self.data_model.model_fields)

    def node(self, name: str) -> NodeSpec:
        """The node called ``name`` (``KeyError`` if there is none)."""
        return self._nodes[name]

    def edge(self, name: str) -> EdgeSpec | None:
        """The edge called ``name``, or None."""
        return self._edges.get(name)

    def edges_from(self, node: str) -> tuple[EdgeSpec, ...]:
        """The edges leaving ``node``, in declaration order."""
        return tuple(edge for edge in self.edges if edge.source == node)


def _guards(
    edge: FlowEdge, model: type[BaseModel], problems: list[str], where: str
) -> list[FlowGuard]:
    guards = []
    if edge.when is not None:
        for problem in guard_problems(edge.when, model):
            problems.append(f"{where}: its guard {problem}")
        guards.append(function_guard(edge.when, edge.refusal))
    if edge.requires:
        guards.append(requires_guard(edge.requires))
    if edge.equals:
        guards.append(equals_guard(edge.equals))
    return guards


def _node_spec(node: Node, problems: list[str]) -> NodeSpec:
    try:
        context = ContextPolicy(node.context)
    except ValueError:
        problems.append(
            f"node {node.name}: context {node.context!r} is not one of keep, reset, summarise"
        )
        context = ContextPolicy.KEEP
    return NodeSpec(
        node.name,
        node.instructions,
        node.collects,
        node.tools,
        context,
        node.final,
        node.task,
        node.agent,
    )


def build_definition(
    name: str,
    data_model: type[BaseModel],
    declared: Iterable[tuple[str, Node | FlowEdge]],
    common_tools: tuple[str, ...] = (),
) -> FlowDefinition:
    """The definition of the flow ``name`` declared by ``declared`` ((attribute name, node or
    edge), in declaration order). Raises :class:`FlowDefinitionError` listing every problem."""
    from voicefsm.flows.validation import check  # noqa: PLC0415 (validation reads definitions)

    problems: list[str] = []
    nodes: dict[str, Node] = {}
    edges: dict[str, FlowEdge] = {}
    for attribute, value in declared:
        known = nodes.get(attribute) or edges.get(attribute)
        if known is not None and known is not value:
            problems.append(f"{attribute}: two nodes or edges share this name")
        if isinstance(value, Node):
            nodes[attribute] = value
        else:
            edges[attribute] = value
    for attribute, node in nodes.items():
        if node.name != attribute:
            problems.append(f"node {node.name}: also declared as {attribute} (one node, one name)")
    by_object = {id(node): attribute for attribute, node in nodes.items()}
    specs = [_node_spec(node, problems) for node in nodes.values()]
    edge_specs = []
    for attribute, edge in edges.items():
        source = by_object.get(id(edge.source))
        where = f"edge {attribute}"
        if source is None:
            problems.append(f"{where}: leaves node {edge.source.name}, which is not in this flow")
            continue
        where = f"node {source}, edge {attribute}"
        target = edge.target if isinstance(edge.target, str) else by_object.get(id(edge.target))
        if target is None or target not in nodes:
            shown = edge.target if isinstance(edge.target, str) else edge.target.name
            problems.append(f"{where}: goes to {shown}, which is not a node of this flow")
            continue
        guards = _guards(edge, data_model, problems, where)
        edge_specs.append(
            EdgeSpec(
                attribute,
                source,
                target,
                tuple(guards),
                edge.clears,
                edge.description,
                edge.tool,
                edge.auto,
            )
        )
    initial = [node.name for node in nodes.values() if node.initial]
    if len(initial) > 1:
        problems.append(f"nodes {', '.join(initial)}: only one node can be initial")
    first = initial[0] if initial else (specs[0].name if specs else "")
    definition = FlowDefinition(
        name, data_model, tuple(specs), tuple(edge_specs), first, tuple(common_tools)
    )
    problems.extend(check(definition))
    if problems:
        raise FlowDefinitionError(name, problems)
    return definition
