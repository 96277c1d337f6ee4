"""Multi-agent calls written the LiveKit way, learnt as a graph: a tool that returns another
agent (a handoff), a tool that awaits an ``AgentTask``, a flow node that does either.

Where each link comes from, most explicit first:

* ``@leads_to(Billing, Survey)`` on a tool (under or over ``@function_tool``): the agents and
  tasks that tool may hand off to or await; on the agent's class, those reached outside its
  tools (a task its ``on_enter`` awaits, say);
* a tool's return annotation: ``-> Billing``, ``-> tuple[Billing, str]``, ``-> Billing | str``;
* a flow's nodes: their ``agent=`` and ``task=``.

What cannot be resolved is reported, not guessed: a tool annotated with livekit's ``Agent``
itself (which one?), with ``Any``, or not at all; an annotation that does not import. livekit's
own agents (its prebuilt tasks) are links' ends, not walked into.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from livekit.agents import Agent, AgentTask, llm

from voicefsm.agent.definition import VoiceAgent
from voicefsm.flows.agents import AgentGraph, AgentLink, LinkKind
from voicefsm.flows.flow import Flow

T = TypeVar("T")
_MARK = "__voicefsm_leads_to__"
_VAGUE = (Agent, AgentTask, VoiceAgent)


def leads_to(*targets: type[Agent]) -> Callable[[T], T]:
    """Declare the agents (handoffs) and ``AgentTask`` s (awaited) a tool, or an agent class
    outside its tools, may lead to::

        @function_tool
        @leads_to(Survey)
        async def start_survey(self, context: RunContext) -> str:
            colour = await Survey()
            ...
    """
    for target in targets:
        if not (inspect.isclass(target) and issubclass(target, Agent)):
            msg = f"leads_to takes livekit Agent or AgentTask classes, not {target!r}"
            raise TypeError(msg)

    def mark(thing: T) -> T:
        setattr(thing, _MARK, (*getattr(thing, _MARK, ()), *targets))
        return thing

    return mark


def _agent_classes(annotation: object) -> Iterator[type]:
    if inspect.isclass(annotation):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _agent_classes(argument)


def _from_annotation(owner: str, tool: Any) -> tuple[list[type[Agent]], str | None]:  # noqa: ANN401
    """The agents a tool's return annotation names, or why they cannot be known."""
    where = f"{owner}.{tool.info.name}"
    function = getattr(tool, "__wrapped__", tool)
    try:
        hints = typing.get_type_hints(function)
    except Exception as exc:  # any failure to resolve is reported as such
        return [], f"{where}: its return annotation does not resolve ({type(exc).__name__})"
    if "return" not in hints:
        return [], f"{where}: no return annotation (it may hand off: annotate it, or @leads_to)"
    returned = hints["return"]
    if returned is Any or returned is object:
        return [], f"{where}: returns {returned!r}; declare what it leads to with @leads_to"
    classes = [c for c in _agent_classes(returned) if issubclass(c, Agent)]
    vague = [c for c in classes if c in _VAGUE]
    if vague:
        return [], f"{where}: returns {vague[0].__name__}, not which one: declare @leads_to"
    return classes, None


def _flow_targets(agent_type: type) -> list[tuple[str, type[Agent]]]:
    flow = _flow_of(agent_type)
    if flow is None:
        return []
    found = []
    for node in flow.definition.nodes:
        made = node.agent if node.agent is not None else (node.task.factory if node.task else None)
        if inspect.isclass(made) and issubclass(made, Agent):
            found.append((node.name, made))
    return found


def _flow_of(agent_type: type) -> type[Flow[Any]] | None:
    flow = getattr(agent_type, "flow_class", None)
    return flow if inspect.isclass(flow) and issubclass(flow, Flow) else None


def _links(agent_type: type[Agent], unresolved: list[str]) -> list[tuple[str | None, type[Agent]]]:
    owner = agent_type.__name__
    found: list[tuple[str | None, type[Agent]]] = [
        (None, target) for target in getattr(agent_type, _MARK, ())
    ]
    for tool in llm.find_function_tools(agent_type):
        declared = getattr(tool, _MARK, None)
        if declared is not None:
            found += [(tool.info.name, target) for target in declared]
            continue
        if isinstance(tool, llm.RawFunctionTool):
            unresolved.append(f"{owner}.{tool.info.name}: a raw tool (declare @leads_to)")
            continue
        classes, problem = _from_annotation(owner, tool)
        if problem is not None:
            unresolved.append(problem)
        found += [(tool.info.name, target) for target in classes]
    found += [(f"flow:{node}", target) for node, target in _flow_targets(agent_type)]
    return found


def agent_graph(root: type[Agent]) -> AgentGraph:
    """The graph of agents a call starting with ``root`` can reach (see the module)."""
    return _walk(root)[0]


def reachable_agents(root: type[Agent]) -> dict[str, type[Agent]]:
    """The classes of the agents and tasks a call starting with ``root`` can reach, by their
    name in :func:`agent_graph` (a node of the agents' flow)."""
    return _walk(root)[1]


def _walk(root: type[Agent]) -> tuple[AgentGraph, dict[str, type[Agent]]]:
    names: dict[type, str] = {root: root.__name__}
    order, queue = [root], [root]
    links: list[AgentLink] = []
    tools: dict[str, tuple[str, ...]] = {}
    unresolved: list[str] = []
    while queue:
        current = queue.pop(0)
        if current.__module__.startswith("livekit."):
            continue  # livekit's own agents and tasks: ends, not walked into
        tools[names[current]] = tuple(t.info.name for t in llm.find_function_tools(current))
        for tool, target in _links(current, unresolved):
            if target not in names:
                names[target] = target.__name__
                order.append(target)
                queue.append(target)
            kind: LinkKind = "task" if issubclass(target, AgentTask) else "handoff"
            link = AgentLink(names[current], names[target], tool, kind)
            if link not in links:
                links.append(link)
    graph = AgentGraph(
        names[root], tuple(names[c] for c in order), tuple(links), tools, tuple(unresolved)
    )
    return graph, {names[c]: c for c in order}
