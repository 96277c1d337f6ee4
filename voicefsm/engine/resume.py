"""Loading a session's context: the conversation's recent messages, when the room names one.

With history, the agent resumes (no first-time greeting) and its LLM context holds the earlier
messages; without, or when the backend is too slow (``history_deadline_s``), it greets.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekit.agents import AgentSession

from voicefsm.backend.client import BackendClient
from voicefsm.engine.session_record import SessionRecord
from voicefsm.lifecycle import ContextLoaded, Lifecycle, Resumed
from voicefsm.persistence.outbox import Outbox


async def load_context(
    agent_session: AgentSession[Any],
    lifecycle: Lifecycle,
    *,
    record: SessionRecord,
    client: BackendClient | None,
    outbox: Outbox,
    known_conversation: bool,
    deadline_s: float,
    limit: int,
) -> None:
    """Fire ``Resumed`` with the history loaded into the agent's context, else
    ``ContextLoaded``."""
    messages = None
    if client is not None and known_conversation:
        # A crashed predecessor's last writes go first, so they are part of what is read.
        await outbox.flush(min(0.3, deadline_s / 3))
        try:
            async with asyncio.timeout(deadline_s):
                messages = await client.recent_messages(record.conversation_id, limit)
        except TimeoutError:
            messages = None
    if not messages:
        lifecycle.fire(ContextLoaded())
        return
    record.preload(messages)
    agent = agent_session.current_agent
    context = agent.chat_ctx.copy()
    for message in messages:
        context.add_message(role=message.role.value, content=message.text)
    await agent.update_chat_ctx(context)
    lifecycle.fire(Resumed())
