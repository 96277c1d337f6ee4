"""User turns that come before the lifecycle can take one.

A typed line (livekit's console, ``session.run``) can arrive while the session is still joining
or loading the caller's context, where the lifecycle refuses a turn: the turn was lost from the
history and the backend while livekit answered it all the same. Such a turn is held, in order,
and handed to the lifecycle the moment it can take turns (greeting, where it cuts the greeting
short as any early word from the caller does, or listening). A reply livekit gave such a turn
meanwhile stays that turn's (:meth:`EarlyTurns.holds`), not a stray speech.
"""

from __future__ import annotations

from collections import deque

from livekit.agents.voice import SpeechHandle

from voicefsm.engine.turn_sources import AdoptedReply
from voicefsm.lifecycle import Lifecycle, Outcome, State, TimelineEntry, UserTurnCompleted

_TOO_EARLY = frozenset({State.JOINING, State.LOADING_CONTEXT})


class EarlyTurns:
    """The door user turns go through into ``lifecycle``: it holds those that come too early."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle
        self._held: deque[UserTurnCompleted] = deque()
        lifecycle.subscribe(self._moved)

    def hand_over(self, turn: UserTurnCompleted) -> Outcome:
        """Fire ``turn`` into the lifecycle, or hold it (``QUEUED``) until it can take turns."""
        if self._lifecycle.state in _TOO_EARLY:
            self._held.append(turn)
            return Outcome.QUEUED
        return self._lifecycle.fire(turn)

    def holds(self, handle: SpeechHandle) -> bool:
        """True when ``handle`` is the reply to a turn held here."""
        return any(
            isinstance(turn.source, AdoptedReply) and turn.source.handle is handle
            for turn in self._held
        )

    def _moved(self, entry: TimelineEntry) -> None:
        if not self._held or entry.dest in _TOO_EARLY:
            return
        held, self._held = self._held, deque()
        for turn in held:  # queued behind the transition that is being taken now
            self._lifecycle.fire(turn)
