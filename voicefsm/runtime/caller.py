"""The caller context the LLM reads: the linked participant's metadata and attributes, as quoted
data after the agent's own instructions, kept current through the call."""

from __future__ import annotations

from collections.abc import Mapping

from livekit.agents import Agent

from voicefsm.context import ParticipantMetadata, participant_context_block


class CallerContext:
    """What the agent knows about its caller; :meth:`changed` makes it the next reply's."""

    def __init__(self, participant: ParticipantMetadata) -> None:
        self.participant = participant
        self.attributes: dict[str, str] = {}
        self._briefed: tuple[Agent, str] | None = None

    async def brief(self, agent: Agent) -> None:
        """Give ``agent`` (instructions as text) the caller context after its instructions."""
        if isinstance(agent.instructions, str):
            self._briefed = (agent, agent.instructions)
            await self._apply()

    def changed(self, participant: ParticipantMetadata, attributes: Mapping[str, str]) -> bool:
        """The caller's metadata or attributes changed; True when the briefed agent must be
        told again (``await`` :meth:`refresh`, off the voice path)."""
        self.participant = participant
        self.attributes = dict(attributes)
        return self._briefed is not None

    async def refresh(self) -> None:
        await self._apply()

    async def _apply(self) -> None:
        if self._briefed is None:
            return
        agent, instructions = self._briefed
        block = participant_context_block(self.participant, self.attributes)
        await agent.update_instructions(instructions + "\n\n" + block)
