"""Code-first agents as a graph: which agent hands the call to which, and which tasks each
awaits, as voicefsm learnt it from the agents' declarations and tools (see
:func:`voicefsm.agent.agent_graph`). Pure data, so that it is drawn and tested without livekit,
and a flow (:meth:`AgentGraph.to_flow`), so that the engine follows a multi-agent call as it
follows any flow: one node per agent, one edge per way between them.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Literal

from voicefsm.flows.flow import Flow, NoData
from voicefsm.flows.nodes import FlowEdge, Node

#: A handoff gives the call to another agent; a task is awaited and gives it back.
LinkKind = Literal["handoff", "task"]


@dataclass(frozen=True, slots=True)
class AgentLink:
    """A way from one agent to another: through ``tool`` (None: declared on the agent's class,
    say for a task its ``on_enter`` awaits), as a handoff or a task."""

    source: str
    target: str
    tool: str | None
    kind: LinkKind

    @property
    def label(self) -> str:
        return self.tool or "declared"


@dataclass(frozen=True)
class AgentGraph:
    """The agents a call can reach from ``root`` (root first), the links between them, each
    agent's tools, and what could not be resolved (each a sentence naming agent and tool)."""

    root: str
    agents: tuple[str, ...]
    links: tuple[AgentLink, ...]
    tools: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()

    def edge_name(self, link: AgentLink) -> str:
        """The flow edge a link is (see :meth:`to_flow`): the tool's name where only one link
        has it, else qualified by its agent; a declared link is ``<source>_to_<target>``."""
        if link.tool is None:
            return f"{link.source}_to_{link.target}"
        same = [other for other in self.links if other.tool == link.tool]
        # A flow node's link is labelled ``flow:<node>``: as an edge, ``flow_<node>``.
        tool = link.tool.replace(":", "_")
        return tool if len(same) == 1 else f"{link.source}_{tool}"

    def edge_between(self, source: str, target: str) -> str | None:
        """The flow edge for a handoff from ``source`` to ``target`` (or a task's return)."""
        for link in self.links:
            if (link.source, link.target) == (source, target):
                return self.edge_name(link)
            if link.kind == "task" and (link.target, link.source) == (source, target):
                return f"{self.edge_name(link)}_done"
        return None

    def to_flow(self) -> type[Flow[NoData]]:
        """The graph as a flow with no data: an agent a node (final when nothing leads on
        from it), a link an edge taken by code (a task's also has its way back). Validated as
        every flow is."""
        leaving = {link.source for link in self.links}
        leaving |= {link.target for link in self.links if link.kind == "task"}
        namespace: dict[str, Any] = {}
        nodes: dict[str, Node] = {}
        for name in self.agents:
            node = Node(f"The call is with {name}.", final=name not in leaving)
            node.name = name
            nodes[name] = namespace[name] = node
        for link in self.links:
            edges: list[tuple[str, Node, Node]] = [
                (self.edge_name(link), nodes[link.source], nodes[link.target])
            ]
            if link.kind == "task":
                back = f"{self.edge_name(link)}_done"
                edges.append((back, nodes[link.target], nodes[link.source]))
            for name, source, target in edges:
                edge: FlowEdge = source.to(target, tool=False)
                edge.name = name
                namespace[name] = edge
        title = f"{self.root}Agents"
        made: type[Flow[NoData]] = types.new_class(
            title, (Flow[NoData],), {}, lambda ns: ns.update(namespace)
        )
        return made
