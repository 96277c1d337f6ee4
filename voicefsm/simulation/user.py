"""A simulated caller: speaks each scripted turn into the microphone when it is their turn, or
barges in while the agent talks, then ends the call the way the scenario says."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from voicefsm.engine.session import ExternalEnd, VoiceSession
from voicefsm.lifecycle import EndReason, State
from voicefsm.providers.devices import SimulatedMicrophone, SimulatedSpeaker
from voicefsm.providers.scripted import ScriptedLLM
from voicefsm.simulation.scenario import Scenario

ENDINGS: dict[str, ExternalEnd] = {
    "hang_up": EndReason.HANG_UP,
    "participant_left": EndReason.PARTICIPANT_LEFT,
}

STEP_TIMEOUT_S = 60.0


class SimulatedUser:
    def __init__(
        self,
        session: VoiceSession,
        microphone: SimulatedMicrophone,
        speaker: SimulatedSpeaker,
        llm: ScriptedLLM,
        scenario: Scenario,
    ) -> None:
        self._session = session
        self._mic = microphone
        self._speaker = speaker
        self._llm = llm
        self._scenario = scenario
        self._changed = asyncio.Event()
        session.lifecycle.subscribe(lambda _entry: self._changed.set())
        self.stuck = False

    async def _until(self, done: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT_S
        while not done():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                continue  # also re-check conditions that are not transitions (the speaker)

    def _idle(self) -> bool:
        """The caller's cue to speak: the agent listens, and says nothing (not even an
        apology or a filler, which are speeches of their own)."""
        lifecycle = self._session.lifecycle
        return lifecycle.is_finished or (
            lifecycle.state is State.LISTENING
            and not self._speaker.playing.is_set()
            and self._session.agent_session.current_speech is None
        )

    async def run(self) -> None:
        lifecycle = self._session.lifecycle
        try:
            await self._until(lambda: lifecycle.state not in (State.JOINING, State.LOADING_CONTEXT))
            for turn in self._scenario.turns:
                if lifecycle.is_finished:
                    return
                for _ in range(turn.llm_fail):
                    self._llm.fail(turn.user)
                if turn.interrupt_after_ms is not None:
                    # Barge in: once the agent is audibly speaking, talk over it.
                    await self._until(lambda: self._speaker.playing.is_set() or self._idle())
                    await asyncio.sleep(turn.interrupt_after_ms / 1000)
                else:
                    await self._until(self._idle)
                    await asyncio.sleep(turn.pause_ms / 1000)
                await self._mic.speak(turn.user)
                # Wait for the agent to take the turn before the next one is scheduled.
                await self._until(
                    lambda: lifecycle.state is not State.LISTENING or lifecycle.is_finished
                )
            await self._until(self._idle)
            if self._scenario.end == "agent":  # the agent is to hang up: give it the time
                await self._until(lambda: lifecycle.state is not State.LISTENING)
        except TimeoutError:
            self.stuck = True
        finally:
            if not lifecycle.is_finished:
                self._session.end(ENDINGS.get(self._scenario.end, EndReason.HANG_UP))
