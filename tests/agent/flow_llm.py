"""A model for flow tests: a real ``llm.LLM`` that plays a list of steps, one per request (tool
calls, or a reply), and keeps the tools and the chat context each request offered it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    llm,
)

Step = str | Sequence[tuple[str, Mapping[str, object]]]


class StepLLM(llm.LLM[None]):
    def __init__(self, steps: Sequence[Step]) -> None:
        super().__init__()
        self.steps = list(steps)
        #: The function tools' names each request offered, in order.
        self.offered: list[list[str]] = []
        self.contexts: list[llm.ChatContext] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, object]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        self.offered.append(list(llm.ToolContext(tools or []).function_tools))
        self.contexts.append(chat_ctx.copy())
        return _StepStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _StepStream(llm.LLMStream):
    async def _run(self) -> None:
        model: StepLLM = self._llm  # type: ignore[assignment]
        step = model.steps.pop(0) if model.steps else "All right."
        if isinstance(step, str):
            delta = llm.ChoiceDelta(role="assistant", content=step)
        else:
            calls = [
                llm.FunctionToolCall(
                    name=name,
                    arguments=json.dumps(dict(arguments)),
                    call_id=f"call-{len(model.offered)}-{index}",
                )
                for index, (name, arguments) in enumerate(step)
            ]
            delta = llm.ChoiceDelta(role="assistant", tool_calls=calls)
        self._event_ch.send_nowait(llm.ChatChunk(id="step", delta=delta))
