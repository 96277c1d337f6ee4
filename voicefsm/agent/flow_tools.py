"""A flow's generated tools as livekit ``FunctionTool`` s, and the toolset a flow agent offers.

What a generated tool does and answers is :mod:`voicefsm.flows.tools`' (tested without
livekit); here it only gets a livekit signature: ``set_party_size(party_size: int)`` with the
field's JSON schema (``minimum``/``maximum``...), ``go_to_confirm()`` with none.

Why a ``Toolset`` whose tools follow the node, rather than ``Agent.update_tools``: livekit
builds a reply's tools once, when the reply starts, and the reply that follows a tool call in
the same turn keeps that list (``AgentActivity``, 1.8.9). A node changed by a tool call would
offer its new tools only from the next user turn: the model, told "now at collect", could not
call ``set_party_size`` yet. A toolset is flattened afresh for each step of a reply, so the
step right after the move sees the new node's tools. ``update_tools`` would also drop the
earlier nodes' tool calls from the chat context, which a ``keep`` node must not lose.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Protocol

from livekit.agents import RunContext, function_tool, llm
from pydantic import WithJsonSchema

from voicefsm.flows import FlowTool

#: What a generated tool returns to livekit: the text for the model, or a handoff.
ToolOutput = str | tuple[object, str]
#: A livekit function tool of any signature.
AnyFunctionTool = llm.FunctionTool[Any, Any] | llm.RawFunctionTool[Any, Any]
Context = RunContext[Any]
ToolBody = Callable[[FlowTool, Context, dict[str, object]], Awaitable[ToolOutput]]


def function_tool_for(tool: FlowTool, call: ToolBody) -> llm.FunctionTool[Any, Any]:
    """``tool`` as a livekit ``FunctionTool`` whose body is ``call(tool, context, arguments)``."""

    async def generated(context: Context, **arguments: object) -> ToolOutput:
        return await call(tool, context, arguments)

    parameters = [
        inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunContext)
    ]
    annotations: dict[str, object] = {"context": RunContext, "return": object}
    if tool.parameter is not None:
        annotation: Any = Annotated[
            (tool.parameter.annotation, WithJsonSchema(tool.parameter.schema))
        ]
        parameters.append(
            inspect.Parameter(
                tool.parameter.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation
            )
        )
        annotations[tool.parameter.name] = annotation
    generated.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    generated.__annotations__ = annotations
    generated.__name__ = generated.__qualname__ = tool.name
    return function_tool(generated, name=tool.name, description=tool.description)


class NodeTools(Protocol):
    """Whatever knows the tools of the node a flow is at (the agent's flow driver)."""

    def current_tools(self) -> Sequence[llm.Tool | llm.Toolset]: ...


class FlowToolset(llm.Toolset):
    """The tools of the node a flow is at: its generated tools, then the agent's tools it names
    and the flow's common tools. Read afresh by livekit at each step of a reply."""

    def __init__(self, driver: NodeTools) -> None:
        self._driver = driver
        super().__init__(id="voicefsm_flow")

    @property
    def tools(self) -> Sequence[llm.Tool | llm.Toolset]:
        return self._driver.current_tools()


def function_tools(tools: Sequence[Any]) -> dict[str, AnyFunctionTool]:
    """The function tools among livekit ``tools``, by name (toolsets unwrapped)."""
    found: dict[str, AnyFunctionTool] = {}
    for tool in tools:
        if isinstance(tool, llm.FunctionTool | llm.RawFunctionTool):
            found.setdefault(tool.info.name, tool)
        elif isinstance(tool, llm.Toolset):
            for name, inner in function_tools(tool.tools).items():
                found.setdefault(name, inner)
    return found
