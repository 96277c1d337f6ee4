"""Where the conversation is, as session state: the flows a call runs, followed node by node.

A call runs the flow its agent declares (and, after a handoff, the next agent's), and, when its
agents hand the call to each other (tools returning another agent, ``AgentTask`` s), the graph
of those agents as a flow of its own (:meth:`voicefsm.flows.AgentGraph.to_flow`): a handoff is
a node change like any other. At every node change, on the voice path and without I/O:

* the session's node timeline gains an entry (:class:`NodeEntry`: node left and entered, the
  edge taken, who moved it, on the lifecycle timeline's clock);
* the change and the flow's state after it go into the outbox (a ``flow_state`` event, one key
  per change), which the backend keeps for a call that comes back;
* listeners (Prometheus dwell, OpenTelemetry node spans) are told.

The summary carries each flow's end state and its node changes (:meth:`FlowWatch.summaries`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import Agent
from pydantic import JsonValue

from voicefsm.agent.definition import VoiceAgent
from voicefsm.agent.graph import agent_graph
from voicefsm.backend.flow_state import FlowSummary, NodeRecord
from voicefsm.engine.writes import SessionWrites
from voicefsm.flows import AgentGraph, Flow, NoData, NodeChange
from voicefsm.lifecycle import Lifecycle, ToolCall

_LOG = logging.getLogger("voicefsm.agent")


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """One node change of the call: ``t`` seconds into the session (the lifecycle timeline's
    clock, so that nodes and states line up), in user turn ``turn``."""

    t: float
    turn: int
    change: NodeChange

    def as_json(self) -> dict[str, JsonValue]:
        """The timeline file's shape for a node change: ``kind`` ``node`` tells it apart from
        the lifecycle's transitions."""
        change = self.change
        return {
            "t": round(self.t, 6),
            "kind": "node",
            "flow": change.flow,
            "step": change.step,
            "edge": change.edge,
            "from": change.source,
            "to": change.dest,
            "by": change.by,
            "turn": self.turn,
            "dwell_s": round(change.dwell_s, 6),
        }

    def record(self) -> NodeRecord:
        change = self.change
        return NodeRecord(
            t=max(0.0, self.t),
            step=change.step,
            edge=change.edge,
            from_node=change.source,
            to_node=change.dest,
            by=change.by,
            turn=self.turn,
            dwell_s=max(0.0, change.dwell_s),
        )


_Learnt = tuple[AgentGraph, type[Flow[NoData]]] | None
_LEARNT: dict[type, _Learnt] = {}


def _agents_flow(root: type[Agent]) -> _Learnt:
    """The graph of the agents a call starting with ``root`` can reach, as a flow; ``None``
    when ``root`` hands the call to no one. Learnt once per agent class (classes are few, and
    a flow class made per call would never be freed)."""
    if root not in _LEARNT:
        graph = agent_graph(root)
        _LEARNT[root] = (graph, graph.to_flow()) if graph.links else None
    return _LEARNT[root]


class FlowWatch:
    """The flows of one call and their node changes (see the module). Made on the session's
    loop; ``clock`` is the lifecycle's (monotonic seconds)."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        writes: SessionWrites,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lifecycle = lifecycle
        self._writes = writes
        self._clock = clock
        self._runs: dict[str, Flow[Any]] = {}
        #: The data of each flow as last written (a flow's data is a new object per change).
        self._written: dict[str, object] = {}
        self._graph: AgentGraph | None = None
        self._listeners: list[Callable[[NodeEntry], None]] = []
        #: Every node change of this call, in order.
        self.entries: list[NodeEntry] = []
        writes.flow_summaries = self.summaries

    @property
    def runs(self) -> dict[str, Flow[Any]]:
        """The flows followed, by flow name (a later agent's run of a flow replaces an
        earlier one's)."""
        return dict(self._runs)

    @property
    def agents_flow(self) -> Flow[Any] | None:
        """The flow of the call's agent graph (where a handoff is a node change), if it runs."""
        graph = self._graph
        return None if graph is None else self._runs.get(f"{graph.root}Agents")

    def start(self, agent: Agent) -> None:
        """Follow the first agent: its flow, and the graph of the agents it can reach."""
        try:
            learnt = _agents_flow(type(agent))
        except Exception:  # a graph that does not make a flow: the call goes on without it
            _LOG.exception("the agent graph could not be followed")
            learnt = None
        if learnt is not None:
            self._graph, flow_class = learnt
            self.follow(flow_class())
        self.agent_flow(agent)

    def agent_flow(self, agent: Agent) -> None:
        """Follow ``agent``'s own flow, if it runs one."""
        flow = agent.flow if isinstance(agent, VoiceAgent) else None
        if flow is not None:
            self.follow(flow)

    def follow(self, flow: Flow[Any]) -> None:
        name = flow.definition.name
        earlier = self._runs.get(name)
        if earlier is flow:
            return
        if earlier is not None:
            earlier.unsubscribe(self._moved)
        self._runs[name] = flow
        self._written[name] = flow.data
        flow.subscribe(self._moved)

    def handed_off(self, old: Agent, new: Agent) -> None:
        """``new`` took the call from ``old`` (a handoff, a task started or returning): the
        agents' flow takes that edge, and ``new``'s own flow is followed."""
        graph = self._graph
        if graph is not None:
            source, dest = type(old).__name__, type(new).__name__
            edge = graph.edge_between(source, dest)
            run = self._runs.get(f"{graph.root}Agents")
            if run is not None and run.node == dest:
                pass  # there already: a call that came back was restored to this agent
            elif edge is None or run is None:
                # Not learnt (a handoff built from an unresolved tool): the handoff event still
                # records it; the agents' flow stays where it was.
                _LOG.info("a handoff the agent graph does not know", extra={"edge": "unknown"})
            else:
                run.take(edge, by="code")
        self.agent_flow(new)

    def tool_finished(self, _call: ToolCall) -> None:
        """After a tool call: a flow that collected data without moving is written too, so
        that a call that comes back has it (one identity check per flow when nothing did)."""
        for name, flow in self._runs.items():
            if flow.data is not self._written.get(name, flow.data):
                self._written[name] = flow.data
                self._writes.flow_state(flow.snapshot())

    def last_stays(self) -> list[tuple[str, str, float]]:
        """Each flow's node now and the seconds since it entered it (since the session began,
        if it has not moved): the stays no node change has ended."""
        timeline = self._lifecycle.timeline
        # The session's end when it has ended (its exit is the timeline's last entry).
        now = timeline[-1].t if self._lifecycle.is_finished else self._clock() - timeline.origin
        entered = {entry.change.flow: entry.t for entry in self.entries}
        return [
            (name, flow.node, max(0.0, now - entered.get(name, 0.0)))
            for name, flow in self._runs.items()
        ]

    def subscribe(self, listener: Callable[[NodeEntry], None]) -> None:
        """Call ``listener`` with each node change (after it is on the timeline and written).
        One that raises is logged and dropped."""
        self._listeners.append(listener)

    def summaries(self) -> list[FlowSummary]:
        """Each flow as the call leaves it, with this call's node changes."""
        summaries = []
        for name, flow in self._runs.items():
            state = flow.snapshot()
            try:
                summary = FlowSummary(
                    flow=name,
                    node=flow.node,
                    steps=flow.steps,
                    data=state["data"],  # type: ignore[arg-type]
                    path=state["path"],  # type: ignore[arg-type]
                    nodes=[e.record() for e in self.entries if e.change.flow == name],
                )
            except ValueError as exc:  # data over the contract's limit: the rest is kept
                _LOG.error(
                    "flow summary refused by the contract: left out",
                    extra={"kind": "flow", "error_type": type(exc).__name__},
                )
                continue
            summaries.append(summary)
        return summaries

    def _moved(self, change: NodeChange) -> None:
        lifecycle = self._lifecycle
        entry = NodeEntry(self._clock() - lifecycle.timeline.origin, lifecycle.turn, change)
        self.entries.append(entry)
        flow = self._runs.get(change.flow)
        if flow is not None:
            self._written[change.flow] = flow.data
            self._writes.flow_state(flow.snapshot(), change)
        for listener in tuple(self._listeners):
            try:
                listener(entry)
            except Exception:
                _LOG.exception("node change listener failed; removed")
                self._listeners.remove(listener)
