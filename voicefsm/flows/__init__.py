"""Conversation flows: where a conversation is (greet → collect → confirm → book), as a second
machine beside the session's lifecycle. Pure: imports neither livekit nor httpx.

A flow is a class of :class:`Node` s and their edges over typed data (a pydantic model), checked
when the class is created; an instance is one conversation's run of it, which code and the
model's generated tools move, and which the engine stores and restores. :func:`load_flow` reads
the same from a YAML file.

What the call engine meets a run through: :meth:`Flow.subscribe` (a :class:`NodeChange` per
move, numbered by ``step``, with the dwell in the node left and the data as JSON),
:meth:`Flow.snapshot` and :meth:`Flow.restore` (JSON; a snapshot that does not fit raises
:class:`~voicefsm.errors.FlowRestoreError` and changes nothing), :meth:`Flow.dwell` and
:attr:`Flow.refusals` (declared names only, safe as metric labels); for code-first agents,
:meth:`AgentGraph.to_flow` and :meth:`AgentGraph.edge_between`.
"""

from voicefsm.flows.agents import AgentGraph, AgentLink
from voicefsm.flows.definition import EdgeSpec, FlowDefinition, NodeSpec
from voicefsm.flows.events import FlowStep, Mover, NodeChange, PathStep, RefusalKey, StepRefusal
from voicefsm.flows.files import load_flow
from voicefsm.flows.flow import Flow, NoData
from voicefsm.flows.nodes import ContextPolicy, FlowEdge, FlowGuard, Node, TaskStep
from voicefsm.flows.tools import FlowTool, node_prompt, result_text, tools_for

__all__ = [
    "AgentGraph",
    "AgentLink",
    "ContextPolicy",
    "EdgeSpec",
    "Flow",
    "FlowDefinition",
    "FlowEdge",
    "FlowGuard",
    "FlowStep",
    "FlowTool",
    "Mover",
    "NoData",
    "Node",
    "NodeChange",
    "NodeSpec",
    "PathStep",
    "RefusalKey",
    "StepRefusal",
    "TaskStep",
    "load_flow",
    "node_prompt",
    "result_text",
    "tools_for",
]
