"""A scripted OpenAI-compatible model for the vendor stub (:mod:`trials.stubs.voice_vendors`):
each test decides, request by request, what the model answers, text or tool calls, and the
stub streams it exactly as OpenAI's Chat Completions API streams (server-sent
``chat.completion.chunk`` events, tool calls by index with their arguments in pieces,
``finish_reason``, a usage chunk, ``[DONE]``).

A request is the agent's, the judge's or the model-played caller's; :class:`ChatRequest` says
which, by the tool the request offers (livekit's judge offers ``submit_verdict``, voicefsm's
caller ``finish_call``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def _text(content: object) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


@dataclass(frozen=True)
class ChatRequest:
    """One ``POST /v1/chat/completions`` body, read the way a test needs it."""

    body: dict[str, Any]

    @property
    def tools(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools") or []]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def system(self) -> str:
        return " ".join(
            _text(m.get("content")) for m in self.messages if m["role"] in ("system", "developer")
        )

    @property
    def last_user(self) -> str:
        users = [_text(m.get("content")) for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def answered_tools(self) -> bool:
        """True when the last message is a tool's output: the model is to reply to it."""
        return bool(self.messages) and self.messages[-1]["role"] == "tool"

    @property
    def is_judge(self) -> bool:
        return "submit_verdict" in self.tools

    @property
    def is_caller(self) -> bool:
        return "finish_call" in self.tools


@dataclass(frozen=True)
class ChatReply:
    """What the scripted model answers: words, then tool calls (name, arguments)."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


def say(text: str) -> ChatReply:
    return ChatReply(text=text)


def call(name: str, /, **arguments: Any) -> ChatReply:
    return ChatReply(tool_calls=((name, arguments),))


def verdict(verdict: str, reasoning: str) -> ChatReply:
    """The judge's answer (livekit's ``submit_verdict``)."""
    return call("submit_verdict", verdict=verdict, reasoning=reasoning)


Responder = Callable[[ChatRequest], ChatReply]


async def stream_reply(
    request: web.Request, body: dict[str, Any], reply: ChatReply
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    base = {
        "id": "chatcmpl-script",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model", "stub-model"),
    }

    async def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        await response.write(f"data: {json.dumps(base | {'choices': [choice]})}\n\n".encode())

    words = reply.text.split()
    for index, word in enumerate(words):
        await chunk({"role": "assistant", "content": word if index == 0 else " " + word})
    for index, (name, arguments) in enumerate(reply.tool_calls):
        text = json.dumps(arguments)
        half = len(text) // 2  # arguments arrive in pieces, as OpenAI streams them
        first = {"name": name, "arguments": text[:half]}
        opening = {"index": index, "id": f"call_{index}", "type": "function", "function": first}
        await chunk({"role": "assistant", "tool_calls": [opening]})
        await chunk({"tool_calls": [{"index": index, "function": {"arguments": text[half:]}}]})
    await chunk({}, "tool_calls" if reply.tool_calls else "stop")
    usage = {"prompt_tokens": 20, "completion_tokens": len(words), "total_tokens": 20 + len(words)}
    await response.write(f"data: {json.dumps(base | {'choices': [], 'usage': usage})}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    return response
