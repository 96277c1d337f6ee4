"""Where a user turn came from: the engine's kinds of the lifecycle's ``TurnSource``.

The lifecycle carries the source of a ``UserTurnCompleted`` to the effect that answers it
(:meth:`voicefsm.engine.pipeline.Pipeline.start_reply`) without looking at it; these carry the
livekit objects the answer needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle

from voicefsm.lifecycle import TurnSource


@dataclass(frozen=True, slots=True)
class UserMessage(TurnSource):
    """A turn livekit completed and handed to the agent (``on_user_turn_completed``), or a line
    typed into the room's chat: the reply answers this very message, so it keeps the message's
    id and livekit's speech metrics."""

    message: llm.ChatMessage


@dataclass(frozen=True, slots=True)
class AdoptedReply(TurnSource):
    """A turn livekit answers on its own (``session.run``, a plain livekit agent after a
    handoff, an ``AgentTask``): the speech already exists, and the lifecycle adopts it as the
    turn's reply."""

    handle: SpeechHandle
