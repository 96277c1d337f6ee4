"""What the agent says on its own (greeting, apology, farewell, filler) in this room, to this
caller."""

from __future__ import annotations

from dataclasses import dataclass

from voicefsm.agent.definition import VoiceAgent
from voicefsm.context import ParticipantMetadata, RoomMetadata, greeting_for


@dataclass(frozen=True, slots=True)
class Phrases:
    """What the agent says on its own."""

    greeting: str
    apology: str
    farewell: str
    filler: str


def phrases_for(agent: VoiceAgent, room: RoomMetadata, participant: ParticipantMetadata) -> Phrases:
    """The agent's phrases in this room, to this caller: a room's own greeting (room metadata
    ``agent.greeting``) wins over the agent's; without either, the caller is greeted by name."""
    greeting = agent.greeting
    if room.agent.greeting:
        text = room.agent.greeting
    elif callable(greeting):
        text = greeting(room, participant)
    else:
        text = greeting or greeting_for(room, participant)
    return Phrases(
        greeting=text, apology=agent.apology, farewell=agent.farewell, filler=agent.filler
    )
