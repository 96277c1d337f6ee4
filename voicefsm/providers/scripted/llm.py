"""A scripted LLM: a real ``llm.LLM`` that streams a deterministic reply word by word, and
calls tools when its script says so.

A :class:`ScriptedTurn` scripts the answer to one user text: the tool calls to make (streamed
as a real model streams them, for livekit to execute), then the reply once their results are
in. Without a script the reply acknowledges what the user said.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    llm,
    utils,
)

from voicefsm.providers.faults import FaultPlan, LLMFault, llm_fault_before_first_token


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """One tool call the scripted model makes: the tool's name and its JSON arguments."""

    name: str
    arguments: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScriptedTurn:
    """How the scripted model answers one user text.

    ``tools`` are called in one reply (several at once, as a model may). ``reply`` is said
    afterwards; without one, the model says what the tools returned (or, with no tools, its
    default acknowledgement). ``preamble`` is said before the tools are called ("Let me see").
    """

    tools: tuple[ScriptedToolCall, ...] = ()
    reply: str | None = None
    preamble: str | None = None


def default_reply(user_text: str) -> str:
    """A deterministic assistant: acknowledges the user's words, at a realistic length."""
    words = " ".join(user_text.split()[:12])
    return f"Thanks, I heard: {words}. Happy to help with that."


#: The most of the tools' results the scripted model repeats in its reply.
MAX_TOOL_SUMMARY_CHARS = 500


class ScriptedLLM(llm.LLM[None]):
    """Streams ``reply(user_text)`` word by word after ``ttft_s``.

    Faults are scripted per turn: :meth:`inject` queues :class:`LLMFault` s for the requests
    answering one user text (each attempt, livekit's retries included, plays the next one);
    ``down`` is played by every request with nothing queued (an LLM down for good).
    """

    def __init__(
        self,
        *,
        reply: Callable[[str], str] = default_reply,
        ttft_s: float = 0.15,
        words_per_s: float = 40.0,
        script: Mapping[str, ScriptedTurn] | None = None,
    ) -> None:
        super().__init__()
        self._reply = reply
        self.script: dict[str, ScriptedTurn] = dict(script or {})
        self.ttft_s = ttft_s
        self.words_per_s = words_per_s
        self._faults: dict[str, FaultPlan[LLMFault]] = {}
        self.down: LLMFault | None = None
        #: Every fault played, in order.
        self.faults_played: list[LLMFault] = []
        self.calls = 0
        #: A copy of every chat context this LLM was asked to continue, in order: exactly what
        #: a real model would have received (tests read the prompt from here).
        self.chat_contexts: list[llm.ChatContext] = []

    @property
    def model(self) -> str:
        return "scripted-llm"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def inject(self, user_text: str, *faults: LLMFault) -> None:
        """The next requests answering ``user_text`` play ``faults``, one each, in order."""
        self._faults.setdefault(user_text, FaultPlan()).add(faults)

    def fail(self, user_text: str, times: int = 1) -> None:
        """The next ``times`` replies to ``user_text`` fail like an outage (a 503)."""
        self.inject(user_text, *[LLMFault.ERROR] * times)

    def take_fault(self, user_text: str) -> LLMFault | None:
        plan = self._faults.get(user_text)
        fault = (plan.take() if plan else None) or self.down
        if fault is not None:
            self.faults_played.append(fault)
        return fault

    def reply_for(self, user_text: str) -> str:
        return self._reply(user_text)

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
        self.calls += 1
        self.chat_contexts.append(chat_ctx.copy())
        return _ScriptedLLMStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


def _since_last_user(chat_ctx: llm.ChatContext) -> tuple[str, list[llm.ChatItem]]:
    """The last user message's text, and everything in the context after it."""
    items = chat_ctx.items
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if item.type == "message" and item.role == "user":
            return item.text_content or "", list(items[index + 1 :])
    return "", list(items)


class _ScriptedLLMStream(llm.LLMStream):
    async def _run(self) -> None:
        scripted: ScriptedLLM = self._llm  # type: ignore[assignment]
        user_text, since = _since_last_user(self._chat_ctx)
        request_id = utils.shortuuid("scripted-")
        fault = scripted.take_fault(user_text)
        await asyncio.sleep(scripted.ttft_s)
        if fault is not None:
            await llm_fault_before_first_token(fault, self._conn_options.timeout)
        turn = scripted.script.get(user_text)
        outputs = [item.output for item in since if item.type == "function_call_output"]
        if turn is not None and turn.tools and not outputs:
            text = turn.preamble or ""
            calls = [
                llm.FunctionToolCall(
                    name=call.name,
                    arguments=json.dumps(dict(call.arguments)),
                    call_id=f"{request_id}-call-{index}",
                )
                for index, call in enumerate(turn.tools)
            ]
        else:
            calls = []
            if turn is not None and turn.reply is not None:
                text = turn.reply
            elif outputs:
                # A model tells the caller what a tool returned in a sentence or two, never a
                # whole 10 MB result (it would take the scripted voice days to say).
                said = " ".join(output for output in outputs if output)
                text = said[:MAX_TOOL_SUMMARY_CHARS]
            else:
                text = scripted.reply_for(user_text)
        words = [] if fault is LLMFault.EMPTY else text.split()
        for index, word in enumerate(words):
            content = word if index == 0 else " " + word
            delta = llm.ChoiceDelta(role="assistant", content=content)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
            await asyncio.sleep(1 / scripted.words_per_s)
        if calls and fault is not LLMFault.EMPTY:
            delta = llm.ChoiceDelta(role="assistant", tool_calls=calls)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        usage = llm.CompletionUsage(
            completion_tokens=len(words),
            prompt_tokens=len(self._chat_ctx.items) * 8,
            total_tokens=len(words) + len(self._chat_ctx.items) * 8,
        )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=usage))
