"""The ``Agent`` subclass: livekit's hooks handed to the lifecycle.

The lifecycle, not the framework, decides when the agent replies: ``on_user_turn_completed``
hands the turn over and raises ``StopResponse``; the ``thinking`` state then calls
``generate_reply``. (Preemptive generation must be off, or an LLM call is wasted per turn.)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from livekit import rtc
from livekit.agents import Agent, ModelSettings, StopResponse, llm

from voicefsm.agent.controller import VoiceSession
from voicefsm.agent.watchdog import until_audio_stalls
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

    async def tts_node(
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncIterator[rtc.AudioFrame]:
        """livekit's own TTS node, with a deadline on audio that stops coming; a synthesis that
        fails (an error or that stall) is reported, so its speech counts as failed even when
        part of it was heard."""
        speech = self.session.current_speech  # the speech this synthesis is for
        frames = Agent.default.tts_node(self, text, model_settings)
        try:
            async for frame in until_audio_stalls(
                frames, self._controller.options.audio_stall_deadline_s
            ):
                yield frame
        except Exception:
            if speech is not None:
                self._controller.synthesis_failed(speech)
            raise

    async def on_exit(self) -> None:
        """The session is closing: nothing more can be said. Its ``close`` event, which follows,
        tells why, and ends the lifecycle with that reason (so everything is persisted)."""
        self._controller.session_closing()
