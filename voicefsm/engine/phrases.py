"""What the agent says on its own (greeting, apology, farewell, filler) in this room, to this
caller."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voicefsm.agent.definition import VoiceAgent
from voicefsm.context import ParticipantMetadata, RoomMetadata, caller_attributes, greeting_for


@dataclass(frozen=True, slots=True)
class Phrases:
    """What the agent says on its own."""

    greeting: str
    apology: str
    farewell: str
    filler: str


def phrases_for(
    agent: VoiceAgent,
    room: RoomMetadata,
    participant: ParticipantMetadata,
    attributes: Mapping[str, str] | None = None,
) -> Phrases:
    """The agent's phrases in this room, to this caller: a room's own greeting (room metadata
    ``agent.greeting``) wins over the agent's; without either, the caller is greeted by name.
    A greeting function of three parameters is also given the caller's attributes."""
    greeting = agent.greeting
    if room.agent.greeting:
        text = room.agent.greeting
    elif callable(greeting):
        call: Callable[..., str] = greeting  # which of the two forms: by its parameters
        if _takes_attributes(call):
            text = call(room, participant, caller_attributes(attributes or {}))
        else:
            text = call(room, participant)
    else:
        text = greeting or greeting_for(room, participant)
    return Phrases(
        greeting=text, apology=agent.apology, farewell=agent.farewell, filler=agent.filler
    )


def _takes_attributes(greeting: Callable[..., str]) -> bool:
    try:
        parameters = inspect.signature(greeting).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: the two-argument form
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters)
