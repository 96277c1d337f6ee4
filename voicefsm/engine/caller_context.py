"""The caller context the LLM reads: the linked participant's metadata and attributes, as quoted
data after the agent's own instructions, kept current through the call."""

from __future__ import annotations

from collections.abc import Mapping

from livekit.agents import Agent

from voicefsm.context import ParticipantMetadata, participant_context_block
from voicefsm.engine.call_tasks import CallTasks


class CallerContext:
    """What the agent knows about its caller; :meth:`changed` makes it the next reply's."""

    def __init__(self, participant: ParticipantMetadata, tasks: CallTasks) -> None:
        self.participant = participant
        self.attributes: dict[str, str] = {}
        self._tasks = tasks
        self._briefed: tuple[Agent, str] | None = None

    async def brief(self, agent: Agent) -> None:
        """Give ``agent`` (instructions as text) the caller context after its instructions."""
        if isinstance(agent.instructions, str):
            self._briefed = (agent, agent.instructions)
            await self._apply()

    def changed(self, participant: ParticipantMetadata, attributes: Mapping[str, str]) -> None:
        """The caller's metadata or attributes changed: the briefed agent is told again (a
        task, off the voice path), so the next reply reads them."""
        self.participant = participant
        self.attributes = dict(attributes)
        if self._briefed is not None:
            self._tasks.spawn(self._apply(), "voicefsm-caller-context")

    async def _apply(self) -> None:
        if self._briefed is None:
            return
        agent, instructions = self._briefed
        block = participant_context_block(self.participant, self.attributes)
        await agent.update_instructions(instructions + "\n\n" + block)
