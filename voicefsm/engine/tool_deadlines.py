"""An agent's tools wrapped to run as user code must: contained, under their deadlines.

Tools have deadlines of their own (``VOICEFSM_TOOL_DEADLINE_S``, or
:func:`voicefsm.agent.tool_deadline` on one tool): :func:`with_deadlines` wraps each of an
agent's function tools, those inside its toolsets included (a flow's node tools change with
the node, so a toolset is wrapped as a whole and its tools as they are read). One that overruns
is stopped, or abandoned if it ignores cancellation, and the model is told (``ToolError``); its
outcome is ``timeout``. A plain ``def`` tool runs in a thread of its own; an async one that
blocks the loop is ``stalled``. What a tool raises besides an ``Exception`` (``SystemExit``...)
is contained and logged (:mod:`voicefsm.engine.user_code`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, Protocol

from livekit.agents import Agent, ToolError, llm

from voicefsm.agent.tools import DEADLINE_MARK
from voicefsm.engine.user_code import UserCode, run_contained
from voicefsm.logs import Log

_WRAPPED = "__voicefsm_wrapped__"


class ToolReports(Protocol):
    """Where a tool's deadline wrapper reports what it saw (implemented by :class:`ToolWatch`)."""

    @property
    def log(self) -> Log: ...

    def timed_out(self, name: str) -> None:
        """The tool ran past its deadline: it was stopped or abandoned."""

    def stalled(self, name: str) -> None:
        """The tool blocked the event loop."""


def _deadlined(
    tool: llm.FunctionTool[..., Any], seconds: float, reports: ToolReports
) -> llm.FunctionTool[..., Any]:
    name = tool.info.name
    # A plain ``def`` tool runs in a thread (livekit would run it on the loop, then await its
    # result); ``__wrapped__`` is the function ``@function_tool`` was given.
    is_async = inspect.iscoroutinefunction(getattr(tool, "__wrapped__", tool))

    @functools.wraps(tool)
    async def call(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 (the tool's own)
        # Exceptions go on to livekit, which tells the model (a ToolError's message, or that
        # an internal error occurred) and logs them; whatever else the tool raises
        # (SystemExit...) is contained and logged here.
        code = UserCode("tool", name, reports.log, passed_on=(Exception,))
        ran = await run_contained(
            code, lambda: tool(*args, **kwargs), is_async=is_async, deadline_s=seconds
        )
        if ran.outcome == "timeout":
            reports.timed_out(name)
            msg = f"the {name} tool did not finish within {seconds:g} s"
            raise ToolError(msg)
        if ran.outcome == "failed":
            if isinstance(ran.error, Exception):
                raise ran.error
            msg = f"the {name} tool failed"
            raise ToolError(msg)
        if ran.outcome == "stalled":
            reports.stalled(name)
        return ran.value

    return llm.FunctionTool(call, tool.info)


def _contained(
    tool: llm.Tool | llm.Toolset, default_s: float, reports: ToolReports
) -> llm.Tool | llm.Toolset:
    """``tool`` wrapped (once: an already wrapped tool is itself)."""
    if getattr(tool, _WRAPPED, False):
        return tool
    if isinstance(tool, llm.FunctionTool):
        wrapped: llm.Tool | llm.Toolset = _deadlined(
            tool, getattr(tool, DEADLINE_MARK, default_s), reports
        )
    elif isinstance(tool, llm.Toolset):
        wrapped = _ContainedToolset(tool, default_s, reports)
    else:
        return tool  # a provider's tool or a raw schema: not code of the agent's to run here
    setattr(wrapped, _WRAPPED, True)
    return wrapped


class _ContainedToolset(llm.Toolset):
    """``inner``'s tools, contained, read afresh at each step as ``inner``'s are; each tool is
    wrapped once (a flow's tools are made once per node and kept)."""

    def __init__(self, inner: llm.Toolset, default_s: float, reports: ToolReports) -> None:
        self._inner, self._default_s, self._reports = inner, default_s, reports
        self._kept: dict[int, tuple[llm.Tool | llm.Toolset, llm.Tool | llm.Toolset]] = {}
        super().__init__(id=inner.id)

    @property
    def tools(self) -> Sequence[llm.Tool | llm.Toolset]:
        return [self._wrap(tool) for tool in self._inner.tools]

    def _wrap(self, tool: llm.Tool | llm.Toolset) -> llm.Tool | llm.Toolset:
        kept = self._kept.get(id(tool))
        if kept is not None and kept[0] is tool:
            return kept[1]
        wrapped = _contained(tool, self._default_s, self._reports)
        self._kept[id(tool)] = (tool, wrapped)  # the tool is held: its id stays its own
        return wrapped

    async def setup(self) -> _ContainedToolset:
        await self._inner.setup()
        return self

    async def aclose(self) -> None:
        await self._inner.aclose()


async def with_deadlines(agent: Agent, default_s: float, reports: ToolReports) -> None:
    """Wrap each of ``agent``'s function tools, toolsets' included, in its deadline (livekit
    has none), run contained (:mod:`voicefsm.engine.user_code`)."""
    await agent.update_tools([_contained(tool, default_s, reports) for tool in agent.tools])
