"""A flow run by an agent: the model's generated tools move it, and entering a node changes what
the agent is (its instructions, its tools, its chat context) or hands the call on.

One driver per agent (:class:`~voicefsm.agent.VoiceAgent` makes it from ``flow=``). Entering a
node, inside the tool call that moved the flow:

1. the node's context policy (:mod:`.flow_context`);
2. the node's instructions: the agent's own, the node's, the collected data
   (``update_instructions``); its tools follow by themselves (:class:`.flow_tools.FlowToolset`);
3. a handoff node returns the next agent with the tool's answer (livekit hands the call over);
   a task node awaits its ``AgentTask`` right there (livekit runs it as a sub-conversation),
   stores the result into the flow's data, and goes on if an automatic edge now holds.

Nothing a tool call does raises into livekit: a refused step, a task that fails or a handoff
that cannot be built is an answer the model reads.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from livekit.agents import Agent, ToolError, llm

from voicefsm.agent.flow_context import Summariser, apply_context_policy, offline_summary
from voicefsm.agent.flow_tools import (
    AnyFunctionTool,
    Context,
    FlowToolset,
    ToolOutput,
    function_tool_for,
)
from voicefsm.errors import FlowDefinitionError
from voicefsm.flows import (
    Flow,
    FlowEdge,
    FlowTool,
    NodeSpec,
    node_prompt,
    result_text,
    tools_for,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_LOG = logging.getLogger("voicefsm.agent")


def _missing_tools(flow: Flow[Any], own: Sequence[str]) -> list[str]:
    definition = flow.definition
    having = f"the agent has {', '.join(sorted(own))}" if own else "the agent has no tools"
    problems = [
        f"node {node.name}: tool {name} is not one of the agent's ({having})"
        for node in definition.nodes
        for name in node.tools
        if name not in own
    ]
    problems += [
        f"common tool {name} is not one of the agent's ({having})"
        for name in definition.common_tools
        if name not in own
    ]
    return problems


def _takes_data(factory: Any) -> bool:  # noqa: ANN401 (any callable)
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is p.empty for p in parameters)


class FlowDriver:
    """``flow`` run by ``agent``; ``persona`` is the agent's own instructions, which every node's
    instructions follow. Raises :class:`FlowDefinitionError` when a node names a tool the agent
    does not have."""

    def __init__(
        self,
        agent: Agent,
        flow: Flow[Any],
        *,
        persona: str,
        own_tools: dict[str, AnyFunctionTool],
        summarise: Summariser = offline_summary,
    ) -> None:
        problems = _missing_tools(flow, list(own_tools))
        if problems:
            raise FlowDefinitionError(flow.definition.name, problems)
        self.agent, self.flow, self.persona = agent, flow, persona
        self.summarise = summarise
        self._own = own_tools
        self._generated: dict[str, list[llm.FunctionTool[Any, Any]]] = {}
        self.toolset = FlowToolset(self)  # last: making it reads the node's tools

    @property
    def node(self) -> NodeSpec:
        return self.flow.definition.node(self.flow.node)

    def instructions(self) -> str:
        """The instructions for the node the flow is at."""
        return node_prompt(self.flow, self.persona)

    def current_tools(self) -> list[llm.Tool | llm.Toolset]:
        """The tools of the node the flow is at: generated, then the node's, then common."""
        node = self.node
        generated = self._generated.get(node.name)
        if generated is None:
            generated = [
                function_tool_for(tool, self.call)
                for tool in tools_for(self.flow.definition, node.name)
            ]
            self._generated[node.name] = generated
        named = [*node.tools, *self.flow.definition.common_tools]
        return [*generated, *(self._own[name] for name in named)]

    async def call(
        self, tool: FlowTool, context: Context, arguments: dict[str, object]
    ) -> ToolOutput:
        """A generated tool's body: move the flow, then enter the node it reached."""
        step = tool.call(self.flow, arguments)
        text = result_text(self.flow, step)
        if not step.moved:
            return text
        return await self.enter(text)

    async def take(self, edge: FlowEdge | str) -> ToolOutput:
        """The agent's code takes ``edge``; entering the node as a generated tool would."""
        step = self.flow.take(edge)
        text = result_text(self.flow, step)
        return await self.enter(text) if step.moved else text

    async def agent_entered(self) -> None:
        """The agent became the active one (``on_enter``): take up the node the flow is at,
        which a restored flow may have moved (a task left unfinished runs again)."""
        await self.agent.update_instructions(self.instructions())
        node = self.node
        if node.agent is not None:
            handoff = self._next_agent(node)
            if isinstance(handoff, Agent):
                self.agent.session.update_agent(handoff)
        elif node.task is not None and self._task_pending(node):
            await self._run_task(node)

    async def enter(self, text: str) -> ToolOutput:
        """Enter the node the flow has just reached; ``text`` is what the move said."""
        node = self.node
        data = self.flow.data.model_dump(mode="json", include=set(self.flow.collected))
        await apply_context_policy(self.agent, node.context, data, self.summarise)
        await self.agent.update_instructions(self.instructions())
        if node.agent is not None:
            handoff = self._next_agent(node)
            if isinstance(handoff, Agent):
                return (handoff, text)
            return f"{text} But the handoff failed: {handoff}"
        if node.task is not None and self._task_pending(node):
            return _after(text, await self._run_task(node))
        return text

    def _task_pending(self, node: NodeSpec) -> bool:
        return node.task is not None and not set(node.task.stores) <= self.flow.collected

    def _next_agent(self, node: NodeSpec) -> Agent | str:
        factory = node.agent
        try:
            made = factory(self.flow.data) if _takes_data(factory) else factory()  # type: ignore[misc]
        except Exception:
            _LOG.exception("flow handoff agent could not be built", extra={"node": node.name})
            return f"the agent for {node.name} could not be started"
        if not isinstance(made, Agent):
            return f"{node.agent_label} is not a livekit Agent"
        return made

    async def _run_task(self, node: NodeSpec) -> ToolOutput:
        assert node.task is not None  # noqa: S101 (checked by the caller)
        try:
            result = await node.task.factory()  # type: ignore[misc]
        except ToolError as exc:
            return f"The {node.task.label} step did not finish: {exc.message}."
        except Exception:
            _LOG.exception("flow task failed", extra={"node": node.name})
            return f"The {node.task.label} step failed."
        step = self.flow.store_result(result)
        text = result_text(self.flow, step)
        return await self.enter(text) if step.moved else text


def _after(text: str, output: ToolOutput) -> ToolOutput:
    """``output`` (an answer, or a handoff with its answer) preceded by ``text``."""
    if isinstance(output, str):
        return f"{text} {output}"
    agent, said = output
    return (agent, f"{text} {said}")
