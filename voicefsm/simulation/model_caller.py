"""A caller played by a model: a persona with a goal, talking to the agent turn by turn until
the goal is met (the model calls ``finish_call``) or the turns run out.

The model sees the call from the caller's side: the agent's words as the other party's, its
own as its own. It runs on the configured model (``VOICEFSM_LLM_*``), through the same client
the worker builds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import llm

from voicefsm.agent.hooks import HistoryItem
from voicefsm.lifecycle import Role
from voicefsm.simulation.scenario import CallerPersona

_LOG = logging.getLogger("voicefsm.simulate")
FINISH_TOOL = "finish_call"
_INSTRUCTIONS = (
    "You are playing a person who phones a voice agent, to test it. Stay in character.\n"
    "Who you are: {persona}\n"
    "What you want from this call: {goal}\n"
    "Speak as a caller on the phone: one or two short spoken sentences at a time, no lists, "
    "no stage directions. When your goal has been met, or it clearly cannot be, do not speak: "
    f"call {FINISH_TOOL} with goal_reached and a short reason."
)


@llm.function_tool
async def finish_call(goal_reached: bool, reason: str) -> None:
    """End the call.

    Args:
        goal_reached: Whether what you phoned for was achieved.
        reason: In a few words, why you are ending the call.
    """


@dataclass
class CallerOutcome:
    """How the model-played caller's call went (in the report)."""

    goal_reached: bool = False
    reason: str = "the call ended before the caller was done"
    said: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "goal_reached": self.goal_reached,
            "reason": self.reason,
            "turns": len(self.said),
            "said": list(self.said),
            **({"error": self.error} if self.error else {}),
        }


class ModelCaller:
    """Asks ``model`` for the caller's next line."""

    def __init__(self, model: llm.LLM[Any], persona: CallerPersona) -> None:
        self._model = model
        self._persona = persona
        self.outcome = CallerOutcome()

    @property
    def max_turns(self) -> int:
        return self._persona.max_turns

    @property
    def pause_ms(self) -> int:
        return self._persona.pause_ms

    def _context(self, history: Sequence[HistoryItem]) -> llm.ChatContext:
        context = llm.ChatContext()
        context.add_message(
            role="system",
            content=_INSTRUCTIONS.format(persona=self._persona.persona, goal=self._persona.goal),
        )
        if not any(item.role is Role.ASSISTANT for item in history):
            context.add_message(role="user", content="(the call is answered; nothing is said yet)")
        for item in history:
            # The agent is the caller's counterpart: its words arrive as the other side's.
            role: Literal["user", "assistant"] = (
                "user" if item.role is Role.ASSISTANT else "assistant"
            )
            text = item.text + (" [cut off]" if item.interrupted else "")
            context.add_message(role=role, content=text)
        return context

    async def next_line(self, history: Sequence[HistoryItem]) -> str | None:
        """What the caller says next; ``None`` once they are done (see :attr:`outcome`)."""
        try:
            response = await self._model.chat(
                chat_ctx=self._context(history), tools=[finish_call]
            ).collect()
        except Exception as exc:  # the caller's model failing ends the call, reported
            _LOG.warning("the caller's model failed", extra={"error_type": type(exc).__name__})
            self.outcome.error = type(exc).__name__
            self.outcome.reason = "the caller's model failed"
            return None
        finished = next((call for call in response.tool_calls if call.name == FINISH_TOOL), None)
        if finished is not None:
            self._finish(finished.arguments)
            return None
        if not response.text:
            self.outcome.reason = "the caller's model had nothing to say"
            return None
        self.outcome.said.append(response.text)
        return response.text

    def _finish(self, arguments: str) -> None:
        try:
            given = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            given = {}
        if not isinstance(given, dict):
            given = {}
        self.outcome.goal_reached = given.get("goal_reached") is True
        self.outcome.reason = str(given.get("reason") or "no reason given")[:500]

    def out_of_turns(self) -> None:
        """The turns ran out before the caller finished."""
        if not self.outcome.goal_reached and self.outcome.error is None:
            self.outcome.reason = f"no goal reached in {self.max_turns} turns"
