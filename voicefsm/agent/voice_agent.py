"""The ``Agent`` subclass: livekit's hooks handed to the lifecycle.

The lifecycle, not the framework, decides when the agent replies: ``on_user_turn_completed``
hands the turn over and raises ``StopResponse``; the ``thinking`` state then calls
``generate_reply``. (Preemptive generation must be off, or an LLM call is wasted per turn.)
"""

from __future__ import annotations

from livekit.agents import Agent, StopResponse, llm

from voicefsm.agent.controller import VoiceSession
from voicefsm.lifecycle import Trigger


class VoiceFsmAgent(Agent):
    def __init__(self, controller: VoiceSession, *, instructions: str) -> None:
        super().__init__(instructions=instructions)
        self._controller = controller

    async def on_enter(self) -> None:
        """In the room with the participant and the pipeline running: load context next."""
        self._controller.lifecycle.fire(Trigger.JOINED)

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        await self._controller.user_turn(new_message)
        raise StopResponse

    async def on_exit(self) -> None:
        """The session is closing: nothing more can be said. Its ``close`` event, which follows,
        tells why, and ends the lifecycle with that reason (so everything is persisted)."""
        self._controller.session_closing()
