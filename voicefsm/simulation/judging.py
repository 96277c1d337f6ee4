"""Judged expectations: statements about a whole call, graded by LiveKit's own judge (the LLM
judge of ``livekit.agents.evals``, which asks the model to ``submit_verdict``) on the call as
the agent's model saw it. ``pass`` holds; ``fail`` and ``maybe`` do not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from livekit.agents import llm

from voicefsm import livekit_compat
from voicefsm.simulation.expectations import Check, judged

_LOG = logging.getLogger("voicefsm.simulate")


async def _one(model: llm.LLM[Any], chat_ctx: llm.ChatContext, statement: str) -> Check:
    judge = livekit_compat.statement_judge(statement)
    try:
        result = await judge.evaluate(chat_ctx=chat_ctx, llm=model)
    except Exception as exc:  # a judge that cannot answer fails its expectation, named
        _LOG.warning("a judge failed", extra={"error_type": type(exc).__name__})
        return judged(statement, "error", f"the judge failed ({type(exc).__name__})")
    return judged(statement, result.verdict, result.reasoning)


async def judge_call(
    model: llm.LLM[Any], chat_ctx: llm.ChatContext | None, statements: Sequence[str]
) -> list[Check]:
    """Each of ``statements`` judged on ``chat_ctx`` (``None``: the call left no conversation,
    so each fails)."""
    if chat_ctx is None:
        return [judged(statement, "error", "no conversation to judge") for statement in statements]
    return list(await asyncio.gather(*(_one(model, chat_ctx, s) for s in statements)))
