"""A simulated caller: speaks each scripted turn into the microphone when it is their turn, or
barges in while the agent talks, then ends the call the way the scenario says. A scenario with
a ``caller`` instead has a model play the caller (:mod:`voicefsm.simulation.model_caller`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from voicefsm import livekit_compat
from voicefsm.engine.session import ExternalEnd, VoiceSession
from voicefsm.lifecycle import EndReason, State
from voicefsm.providers.scripted import ScriptedLLM
from voicefsm.simulation.model_caller import ModelCaller
from voicefsm.simulation.pacing import Pacing, RealTimePacing
from voicefsm.simulation.scenario import Scenario

ENDINGS: dict[str, ExternalEnd] = {
    "hang_up": EndReason.HANG_UP,
    "participant_left": EndReason.PARTICIPANT_LEFT,
}

STEP_TIMEOUT_S = 60.0


class Microphone(Protocol):
    async def speak(self, text: str) -> None: ...


class Speaker(Protocol):
    @property
    def playing(self) -> asyncio.Event: ...


class SimulatedUser:
    def __init__(
        self,
        session: VoiceSession,
        microphone: Microphone,
        speaker: Speaker,
        llm: ScriptedLLM | None,
        scenario: Scenario,
        *,
        pacing: Pacing | None = None,
        caller: ModelCaller | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self._session = session
        self._mic = microphone
        self._speaker = speaker
        self._llm = llm
        self._scenario = scenario
        #: Real time unless told otherwise: the caller waits as a person would.
        self._pacing = pacing or RealTimePacing(speaker)
        self._caller = caller
        self._poll_s = poll_s
        self._changed = asyncio.Event()
        session.lifecycle.subscribe(lambda _entry: self._changed.set())
        self.stuck = False

    def nudge(self) -> None:
        """Something the caller waits on may have changed (the speaker says so)."""
        self._changed.set()

    async def _until(self, done: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT_S
        while not done():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, self._poll_s))
            except TimeoutError:
                continue  # also re-check conditions that are not transitions (the speaker)

    def _idle(self) -> bool:
        """The caller's cue to speak: the agent listens, and says nothing and is about to say
        nothing (not an apology or a filler, not what an agent handed the call says as it
        takes over: speeches of their own, outside any reply)."""
        lifecycle = self._session.lifecycle
        return lifecycle.is_finished or (
            lifecycle.state is State.LISTENING
            and not self._speaker.playing.is_set()
            and not livekit_compat.agent_may_speak(self._session.agent_session)
        )

    def _took_the_turn(self) -> bool:
        lifecycle = self._session.lifecycle
        return lifecycle.state is not State.LISTENING or lifecycle.is_finished

    async def run(self) -> None:
        lifecycle = self._session.lifecycle
        turns = self._scenario.turns
        # A first turn may barge into the greeting: the speaker must know before it starts.
        self._pacing.before_reply(turns[0].interrupt_after_ms if turns else None)
        try:
            await self._until(lambda: lifecycle.state not in (State.JOINING, State.LOADING_CONTEXT))
            if self._caller is not None:
                await self._play_the_model(self._caller)
            else:
                await self._play_the_script()
            await self._until(self._idle)
            if self._scenario.end == "agent":  # the agent is to hang up: give it the time
                await self._until(lambda: lifecycle.state is not State.LISTENING)
        except TimeoutError:
            self.stuck = True
        finally:
            if not lifecycle.is_finished:
                self._session.end(ENDINGS.get(self._scenario.end, EndReason.HANG_UP))

    async def _play_the_script(self) -> None:
        turns = self._scenario.turns
        for index, turn in enumerate(turns):
            if self._session.lifecycle.is_finished:
                return
            if self._llm is not None:
                for _ in range(turn.llm_fail):
                    self._llm.fail(turn.user)
            if turn.interrupt_after_ms is not None:
                # Barge in: once the agent is audibly speaking, talk over it.
                await self._pacing.barge_in(turn.interrupt_after_ms, self._until, self._idle)
            else:
                await self._until(self._idle)
                await self._pacing.pause(turn.pause_ms)
            following = turns[index + 1] if index + 1 < len(turns) else None
            self._pacing.before_reply(following.interrupt_after_ms if following else None)
            await self._mic.speak(turn.user)
            # Wait for the agent to take the turn before the next one is scheduled.
            await self._until(self._took_the_turn)

    async def _play_the_model(self, caller: ModelCaller) -> None:
        for _ in range(caller.max_turns):
            await self._until(self._idle)
            if self._session.lifecycle.is_finished:
                return
            line = await caller.next_line(self._session.record.history)
            if line is None:
                return  # the caller is done: goal met, or given up
            await self._pacing.pause(caller.pause_ms)
            self._pacing.before_reply(None)
            await self._mic.speak(line)
            await self._until(self._took_the_turn)
        caller.out_of_turns()
