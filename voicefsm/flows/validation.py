"""A flow's declarations made into a definition, and the checks it passes on the way, each
problem naming its node (or edge, field): :func:`build_definition`.

What is refused, and why it is refused early: a node nobody can reach, an edge to a node that
does not exist, a node that is not final but has no way on (the caller would be left with an
agent that cannot move), a field no node collects, names that clash (two tools of one node with
one name), and declarations that contradict themselves (a final node with edges out, a handoff
that is not final, an automatic edge without a guard).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from voicefsm.errors import FlowDefinitionError
from voicefsm.flows.definition import EdgeSpec, FlowDefinition, NodeSpec
from voicefsm.flows.nodes import (
    ContextPolicy,
    FlowEdge,
    FlowGuard,
    Node,
    equals_guard,
    function_guard,
    guard_problems,
    requires_guard,
)

#: A tool name every model API takes (OpenAI's rule, the strictest), as an identifier.
TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: What a node offers the model for each field it collects.
FIELD_TOOL_PREFIX = "set_"

#: Names a flow's nodes and edges cannot take: the running flow's own attributes.
RESERVED = frozenset(
    {
        "available_edges",
        "collected",
        "data",
        "definition",
        "dwell",
        "has_nodes",
        "is_finished",
        "node",
        "path",
        "refusals",
        "restore",
        "set",
        "snapshot",
        "snapshot_path_limit",
        "path_limit",
        "recent_path",
        "steps",
        "common_tools",
        "store_result",
        "subscribe",
        "take",
        "unsubscribe",
    }
)


def _data_model(definition: FlowDefinition) -> Iterator[str]:
    for name, field in definition.data_model.model_fields.items():
        if field.default is PydanticUndefined and field.default_factory is None:
            yield (
                f"field {name} of {definition.data_model.__name__}: needs a default "
                "(the value before it is collected, usually None)"
            )


def _names(definition: FlowDefinition) -> Iterator[str]:
    seen: dict[str, str] = {}
    for kind, name in [
        *(("node", node.name) for node in definition.nodes),
        *(("edge", edge.name) for edge in definition.edges),
    ]:
        if name in seen:
            yield f"{kind} {name}: the name of a {seen[name]} too"
        seen[name] = kind
        if not TOOL_NAME.match(name):
            yield f"{kind} {name}: a name is a letter or _, then letters, digits or _ (64 at most)"
        elif name in RESERVED or name.startswith("_"):
            yield f"{kind} {name}: the name is taken by the flow itself; choose another"


def _fields(definition: FlowDefinition) -> Iterator[str]:
    fields = set(definition.fields)
    gathered = {name for node in definition.nodes for name in node.gathers}
    for node in definition.nodes:
        for name in node.gathers:
            if name not in fields:
                yield f"node {node.name}: collects {name}, which is not a field of the data"
    for edge in definition.edges:
        named = [name for guard in edge.guards for name in guard.fields] + list(edge.clears)
        for name in named:
            if name not in fields:
                yield f"node {edge.source}, edge {edge.name}: names {name}, not a field of the data"
    for name in definition.fields:
        if name not in gathered:
            yield f"field {name}: collected nowhere (no node collects it)"


def _tools(definition: FlowDefinition, node: NodeSpec) -> Iterator[str]:
    out = definition.edges_from(node.name)
    offered: list[str] = [edge.name for edge in out if edge.tool and not edge.auto]
    offered += [FIELD_TOOL_PREFIX + name for name in node.collects]
    offered += [*node.tools, *definition.common_tools]
    for name in dict.fromkeys(name for name in offered if offered.count(name) > 1):
        yield f"node {node.name}: offers two tools named {name}"
    for name in (*node.tools, *definition.common_tools):
        if not TOOL_NAME.match(name):
            yield f"node {node.name}: tool {name!r} is not a tool name"


def _shape(definition: FlowDefinition, node: NodeSpec) -> Iterator[str]:
    out = definition.edges_from(node.name)
    if node.final and out:
        yield f"node {node.name}: is final, but has edges out ({', '.join(e.name for e in out)})"
    if not node.final and not out:
        yield f"node {node.name}: a dead end (no edge out, and not final)"
    if node.agent is not None and not node.final:
        yield f"node {node.name}: hands the call to another agent, so it must be final"
    if node.agent is not None and node.task is not None:
        yield f"node {node.name}: runs a task and hands off: choose one"
    if node.name == definition.initial and (node.agent is not None or node.task is not None):
        yield f"node {node.name}: the first node cannot run a task or hand off; enter it by an edge"
    for edge in out:
        if edge.auto and not edge.guards:
            yield f"node {node.name}, edge {edge.name}: automatic, so it needs a guard"
        elif edge.auto and not node.gathers:
            yield f"node {node.name}, edge {edge.name}: automatic, but the node sets no field"


def _reachable(definition: FlowDefinition) -> Iterator[str]:
    reached, frontier = {definition.initial}, [definition.initial]
    while frontier:
        for edge in definition.edges_from(frontier.pop()):
            if edge.target not in reached:
                reached.add(edge.target)
                frontier.append(edge.target)
    for node in definition.nodes:
        if node.name not in reached:
            yield f"node {node.name}: unreachable from {definition.initial}"


def check(definition: FlowDefinition) -> list[str]:
    """Every problem of ``definition``, in a stable order (empty: the flow is sound)."""
    if not definition.nodes:
        return ["the flow declares no node"]
    problems = [*_data_model(definition), *_names(definition), *_fields(definition)]
    for node in definition.nodes:
        problems.extend(_shape(definition, node))
        problems.extend(_tools(definition, node))
    problems.extend(_reachable(definition))
    return problems


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
