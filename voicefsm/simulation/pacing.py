"""The simulated caller's two clocks: real time, and fast (audio on a clock that does not wait).

In real time the caller waits as a person would: ``pause_ms`` before speaking, and for a
barge-in, ``interrupt_after_ms`` after the agent's audio starts. In fast mode nothing waits:
a pause changes nothing the agent can notice (short of the silence timeout, which is refused),
and a barge-in is placed on the audio's own clock, by holding the agent's segment at that
position (:meth:`voicefsm.providers.fast_audio.FastSpeaker.arm`) until the caller has spoken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from livekit.agents import AgentSession, UserInputTranscribedEvent

from voicefsm.providers.fast_audio import FastSpeaker
from voicefsm.settings import Settings
from voicefsm.simulation.scenario import Scenario

Until = Callable[[Callable[[], bool]], Awaitable[None]]


class Pacing(Protocol):
    """When the simulated caller speaks, on one clock."""

    def before_reply(self, barge_in_ms: int | None) -> None:
        """The caller is about to speak; ``barge_in_ms``: their next turn talks over the reply
        this one gets, that far into it."""

    async def pause(self, milliseconds: int) -> None:
        """The caller's silence before they speak."""

    async def barge_in(self, milliseconds: int, until: Until, idle: Callable[[], bool]) -> None:
        """Until the moment to talk over the agent (or the agent fell silent first)."""


class Audible(Protocol):
    """A speaker whose playing the caller can hear."""

    @property
    def playing(self) -> asyncio.Event: ...


class RealTimePacing:
    def __init__(self, speaker: Audible) -> None:
        self._speaker = speaker

    def before_reply(self, barge_in_ms: int | None) -> None:
        return

    async def pause(self, milliseconds: int) -> None:
        await asyncio.sleep(milliseconds / 1000)

    async def barge_in(self, milliseconds: int, until: Until, idle: Callable[[], bool]) -> None:
        await until(lambda: self._speaker.playing.is_set() or idle())
        await asyncio.sleep(milliseconds / 1000)


class FastPacing:
    def __init__(self, speaker: FastSpeaker, agent_session: AgentSession[Any]) -> None:
        self._speaker = speaker
        self._holding = False
        agent_session.on("user_input_transcribed", self._transcribed)

    def before_reply(self, barge_in_ms: int | None) -> None:
        if barge_in_ms is not None:
            self._speaker.arm(barge_in_ms / 1000)

    async def pause(self, milliseconds: int) -> None:
        return

    async def barge_in(self, milliseconds: int, until: Until, idle: Callable[[], bool]) -> None:
        await until(lambda: self._speaker.reached.is_set() or idle())
        self._holding = self._speaker.held
        if not self._holding:
            self._speaker.release()  # the agent fell silent first: nothing left to hold

    def _transcribed(self, event: UserInputTranscribedEvent) -> None:
        # The caller's whole barge-in was heard and the segment still plays: livekit does not
        # interrupt it (a speech that cannot be), so it plays on, as it would in real time.
        # Next tick: livekit reacts to a final transcript right after announcing it.
        if event.is_final and self._holding:
            self._holding = False
            asyncio.get_running_loop().call_soon(self._speaker.release)


def fast_mode_refusals(scenario: Scenario, settings: Settings) -> list[str]:
    """What in ``scenario`` would lose its meaning without real time: a pause the agent's
    silence timeout would notice (livekit's ``user_away_timeout`` runs on the wall clock)."""
    limit_ms = settings.silence_timeout_s * 1000
    return [
        f"turn {index}: pause_ms {turn.pause_ms} reaches the silence timeout "
        f"({settings.silence_timeout_s:g} s), which only real time can show: run it without --fast"
        for index, turn in enumerate(scenario.turns, start=1)
        if turn.pause_ms >= limit_ms
    ]
