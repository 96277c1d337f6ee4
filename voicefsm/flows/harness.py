"""``FlowHarness``: a flow walked in a test, with no audio, network, model or event loop.

It calls the generated tools exactly as the model's calls reach them (the same code, the same
text back), takes edges as code does, and keeps every node change::

    harness = FlowHarness(TableFlow)
    harness.call("go_to_collect")
    assert harness.call("set_party_size", party_size=50).startswith("Not done")
    harness.call("set_party_size", party_size=4)
    assert harness.node == "collect" and harness.data.party_size == 4

``FlowHarness(TableFlow, at="confirm", data={...})`` starts at a node with data already
collected, as a resumed call does, so one edge is tested without walking to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from voicefsm.flows.events import FlowStep, NodeChange
from voicefsm.flows.flow import Flow
from voicefsm.flows.tools import FlowTool, result_text, tools_for

D = TypeVar("D", bound=BaseModel)


class FlowHarness(Generic[D]):
    """A run of ``flow`` (a flow class, or a run of one) for a test; see the module's
    docstring. ``at`` and ``data`` restore it at a node with collected data."""

    def __init__(
        self,
        flow: type[Flow[D]] | Flow[D],
        *,
        at: str | None = None,
        data: Mapping[str, object] | None = None,
    ) -> None:
        self.flow: Flow[D] = flow() if isinstance(flow, type) else flow
        #: Every node change, in order.
        self.changes: list[NodeChange] = []
        #: The last step's result (a tool call, an edge, a field, a task's result).
        self.last: FlowStep | None = None
        self.flow.subscribe(self.changes.append)
        if at is not None or data:
            self.place(at or self.flow.node, data or {})

    @property
    def node(self) -> str:
        return self.flow.node

    @property
    def data(self) -> D:
        return self.flow.data

    @property
    def collected(self) -> frozenset[str]:
        return self.flow.collected

    @property
    def path(self) -> list[str]:
        """The edges taken, by name."""
        return [step.edge for step in self.flow.path]

    @property
    def handoff(self) -> str | None:
        """The agent the current node hands the call to, if it is a handoff node."""
        return self.flow.definition.node(self.node).agent_label

    @property
    def tools(self) -> list[str]:
        """Every tool the model is offered here: the generated ones, then the node's and the
        flow's common tools (the agent's own)."""
        node = self.flow.definition.node(self.node)
        generated = [tool.name for tool in tools_for(self.flow.definition, self.node)]
        return [*generated, *node.tools, *self.flow.definition.common_tools]

    def generated_tool(self, name: str) -> FlowTool:
        """The generated tool ``name`` of the current node (``KeyError`` names the ones there
        are)."""
        offered = {tool.name: tool for tool in tools_for(self.flow.definition, self.node)}
        if name not in offered:
            msg = f"{self.node} offers no generated tool {name!r} (it has {sorted(offered)})"
            raise KeyError(msg)
        return offered[name]

    def call(self, tool: str, **arguments: Any) -> str:  # noqa: ANN401 (a model's arguments)
        """Call a generated tool as the model would; the text the model reads back."""
        self.last = self.generated_tool(tool).call(self.flow, arguments)
        return result_text(self.flow, self.last)

    def take(self, edge: str) -> FlowStep:
        """Take ``edge`` as the agent's code does."""
        self.last = self.flow.take(edge)
        return self.last

    def walk(self, *edges: str) -> list[FlowStep]:
        """Take each edge in turn (as code)."""
        return [self.take(edge) for edge in edges]

    def set(self, field: str, value: object) -> FlowStep:
        """Set a field as the agent's code does."""
        self.last = self.flow.set(field, value)
        return self.last

    def complete_task(self, result: object) -> FlowStep:
        """The current node's task finished with ``result``: store it as the agent would."""
        self.last = self.flow.store_result(result)
        return self.last

    def place(self, node: str, data: Mapping[str, object]) -> None:
        """Put the flow at ``node`` with ``data`` collected (validated as a restore is)."""
        model = self.flow.definition.data_model
        values = model.model_validate(data).model_dump(mode="json", include=set(data))
        self.flow.restore(
            {
                "flow": self.flow.definition.name,
                "version": 1,
                "node": node,
                "steps": self.flow.steps,
                "data": values,
                "path": [step.as_json() for step in self.flow.path],
            }
        )
