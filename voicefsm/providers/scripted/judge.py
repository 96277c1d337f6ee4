"""A scripted judge for LiveKit's judges: ``RunResult``'s ``.judge(llm, intent=...)`` asks an
LLM to call ``check_intent(success, reason)``, and the judges of ``livekit.agents.evals`` (which
grade ``simulate``'s ``expect.judge`` statements) ask it to call ``submit_verdict(verdict,
reasoning)``. This one decides with your function instead of a model, so the test is
deterministic and offline::

    judge = ScriptedJudge(lambda intent, message: "Booked" in message)
    result.expect.next_event().is_message(role="assistant").judge(judge, intent="confirms it")

For a judged statement, ``decide`` gets the statement and the conversation as the judge shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    llm,
    utils,
)

Decide = Callable[[str, str], bool]
_PROMPT = re.compile(r"Intent:\n(?P<intent>.*?)\n\nMessage:\n(?P<message>.*)\Z", re.DOTALL)
_CRITERIA = re.compile(
    r"Criteria: (?P<intent>.*?)\n\nConversation:\n(?P<message>.*?)(\n\n\w[^\n]*)?\Z", re.DOTALL
)
_VERDICT_TOOL = "submit_verdict"


class ScriptedJudge(llm.LLM[None]):
    """Answers livekit's judge prompt with ``decide(intent, message)``."""

    def __init__(self, decide: Decide) -> None:
        super().__init__()
        self._decide = decide
        #: Every (intent, message, verdict) judged, in order.
        self.verdicts: list[tuple[str, str, bool]] = []

    @property
    def model(self) -> str:
        return "scripted-judge"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def judge(self, chat_ctx: llm.ChatContext) -> tuple[bool, str]:
        prompt = next(
            (i.text_content or "" for i in reversed(chat_ctx.items) if i.type == "message"), ""
        )
        found = _PROMPT.search(prompt) or _CRITERIA.search(prompt)
        intent, message = (found["intent"], found["message"]) if found else ("", prompt)
        verdict = bool(self._decide(intent, message))
        self.verdicts.append((intent, message, verdict))
        return verdict, "scripted judgement: " + ("fulfils" if verdict else "misses") + " it"

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
        return _JudgeStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _JudgeStream(llm.LLMStream):
    async def _run(self) -> None:
        judge: ScriptedJudge = self._llm  # type: ignore[assignment]
        success, reason = judge.judge(self._chat_ctx)
        offered = {getattr(getattr(tool, "info", None), "name", None) for tool in self._tools}
        arguments: dict[str, object]
        if _VERDICT_TOOL in offered:  # livekit.agents.evals' judges
            name = _VERDICT_TOOL
            arguments = {"verdict": "pass" if success else "fail", "reasoning": reason}
        else:  # RunResult's judge
            name, arguments = "check_intent", {"success": success, "reason": reason}
        call = llm.FunctionToolCall(
            name=name, arguments=json.dumps(arguments), call_id=utils.shortuuid("judge-")
        )
        delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        self._event_ch.send_nowait(llm.ChatChunk(id=utils.shortuuid("judge-"), delta=delta))
