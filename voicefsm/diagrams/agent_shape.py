"""What a diagram shows of an agent: read from the agent itself, never written twice."""

from __future__ import annotations

from livekit.agents import llm

from voicefsm.agent.definition import VoiceAgent
from voicefsm.agent.hooks import declared_hooks
from voicefsm.diagrams.model import AgentShape, HookMark


def agent_shape(agent: VoiceAgent) -> AgentShape:
    """``agent``'s name, its tools (in livekit's order) and its hooks (by method name)."""
    tools = tuple(
        tool.info.name if isinstance(tool, llm.FunctionTool | llm.RawFunctionTool) else tool.id
        for tool in agent.tools
    )
    hooks = tuple(
        HookMark(name, spec.point.value, spec.on.value)
        for name, spec in declared_hooks(type(agent))
    )
    return AgentShape(type(agent).__name__, tools, hooks)
