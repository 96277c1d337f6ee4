"""Loading a session's context: the conversation's recent messages and where its flows were,
when the room names a conversation.

With either, the agent resumes (no first-time greeting): its LLM context holds the earlier
messages, and its flow continues at the node it was in with the data it had collected (a step
already finished is not asked again). Without, or when the backend is too slow
(``history_deadline_s``, one deadline for both reads), it greets.

A call whose agents hand it to each other also comes back to the agent it was with: the agents'
flow (see :mod:`~voicefsm.engine.flow_watch`) is restored at that agent's node, and the call is
handed to a new instance of its class, with the conversation so far. Only an agent class made
without arguments can be made again here; a call whose agent needs them (or is an
``AgentTask``, awaited by a tool) resumes with the first agent, and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from livekit.agents import Agent, AgentSession, AgentTask
from pydantic import JsonValue

from voicefsm.agent.definition import VoiceAgent
from voicefsm.agent.graph import reachable_agents
from voicefsm.backend.client import BackendClient
from voicefsm.backend.models import Message
from voicefsm.engine.flow_watch import FlowWatch
from voicefsm.engine.session_record import SessionRecord
from voicefsm.errors import FlowRestoreError
from voicefsm.lifecycle import ContextLoaded, Lifecycle, Resumed
from voicefsm.persistence.outbox import Outbox

_LOG = logging.getLogger("voicefsm.agent")
FlowStates = list[dict[str, JsonValue]]


async def load_context(
    agent_session: AgentSession[Any],
    lifecycle: Lifecycle,
    *,
    record: SessionRecord,
    flows: FlowWatch,
    client: BackendClient | None,
    outbox: Outbox,
    known_conversation: bool,
    deadline_s: float,
    limit: int,
) -> None:
    """Fire ``Resumed`` with the history loaded into the agent's context and its flow restored,
    else ``ContextLoaded``."""
    messages: Sequence[Message] | None = None
    states: FlowStates | None = None
    if client is not None and known_conversation:
        # A crashed predecessor's last writes go first, so they are part of what is read.
        await outbox.flush(min(0.3, deadline_s / 3))
        try:
            async with asyncio.timeout(deadline_s):
                messages, states = await asyncio.gather(
                    client.recent_messages(record.conversation_id, limit),
                    _flow_states(client, record.conversation_id, flows),
                )
        except TimeoutError:
            messages = states = None
    # This call's own words (written before the lookup answered) are not an earlier call's:
    # read back, they would make a new call look resumed from its own greeting.
    own = {item.id for item in record.history}
    messages = [m for m in messages or () if m.id not in own]
    agent = agent_session.current_agent
    resumed_flow = await _restore_flow(agent, states or [])
    returned_to = _agent_returned_to(agent, flows, states or [])
    if not messages and not resumed_flow and returned_to is None:
        lifecycle.fire(ContextLoaded())
        return
    if messages:
        record.preload(messages)
        context = agent.chat_ctx.copy()
        for message in messages:
            context.add_message(role=message.role.value, content=message.text)
        await agent.update_chat_ctx(context)
    lifecycle.fire(Resumed())
    if returned_to is not None:
        await returned_to.update_chat_ctx(agent.chat_ctx.copy())
        agent_session.update_agent(returned_to)  # a handoff, followed as every other


async def _flow_states(
    client: BackendClient, conversation_id: str, flows: FlowWatch
) -> FlowStates | None:
    if not flows.runs:
        return None  # the call runs no flow: nothing to ask for
    return await client.flow_states(conversation_id)


async def _restore_flow(agent: object, states: FlowStates) -> bool:
    """Restore the agent's flow from its stored state, if one is stored; True if it was. A
    state that does not fit the flow (it changed since) is logged, and the flow starts over."""
    if not isinstance(agent, VoiceAgent) or agent.flow is None:
        return False
    name = agent.flow.definition.name
    state = next((s for s in states if isinstance(s, dict) and s.get("flow") == name), None)
    if state is None:
        return False
    try:
        await agent.resume_flow(state)
    except FlowRestoreError as exc:
        _LOG.warning(
            "stored flow state does not fit the flow: it starts over",
            extra={"flow": name, "error_type": type(exc).__name__},
        )
        return False
    return True


def _agent_returned_to(agent: Agent, flows: FlowWatch, states: FlowStates) -> Agent | None:
    """A new instance of the agent the call was with, its agents' flow restored to it; None
    when the call was with the first agent, or that agent cannot be made again."""
    run = flows.agents_flow
    if run is None:
        return None
    name = run.definition.name
    state = next((s for s in states if isinstance(s, dict) and s.get("flow") == name), None)
    node = None if state is None else state.get("node")
    if state is None or not isinstance(node, str) or node == run.node:
        return None
    agent_type = reachable_agents(type(agent)).get(node)
    try:
        if agent_type is None or issubclass(agent_type, AgentTask):
            raise TypeError(node)  # a task is awaited by a tool: it cannot be returned to
        returned = cast("Callable[[], Agent]", agent_type)()
        run.restore(state)
    except Exception as exc:  # the user's constructor, or a graph changed since: never fatal
        _LOG.warning(
            "the agent the call was with cannot be made again: it resumes with the first",
            extra={"flow": name, "node": node, "error_type": type(exc).__name__},
        )
        return None
    return returned
