"""A flow as data: its nodes and edges frozen, by name, as the machine, the tools, the diagrams
and the generated tests read them. Built from a flow class's declarations (or a flow file's) by
:func:`voicefsm.flows.validation.build_definition`, which refuses a wrong flow with one error
naming every node at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel

from voicefsm.flows.nodes import (
    ContextPolicy,
    FlowGuard,
    TaskStep,
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
