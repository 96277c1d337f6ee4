"""A dropped caller can come back.

A mobile handover or a SIP re-INVITE drops the caller's connection for a few seconds. When the
linked participant leaves, the call is held (``caller_dropped`` on the timeline) for
``rejoin_grace_s``; the caller rejoining in time continues the same session and lifecycle
(``caller_returned``), and only the grace period running out ends the call, as
``participant_left``. With a grace of 0 this is off: livekit's RoomIO closes the session when
the caller leaves, as it always did.
"""

from __future__ import annotations

import asyncio

from voicefsm.lifecycle import (
    CallerDropped,
    CallerReturned,
    Lifecycle,
    ParticipantLeft,
    TimelineEntry,
)
from voicefsm.lifecycle.states import LIVE_STATES


class RejoinGrace:
    """The grace timer of one session: the participant watch tells :meth:`caller_away`; the
    timer stops when the call ends, however it ends."""

    def __init__(self, lifecycle: Lifecycle, grace_s: float) -> None:
        self._lifecycle = lifecycle
        self.grace_s = grace_s
        self._timer: asyncio.TimerHandle | None = None
        self._dropped_at = 0.0
        lifecycle.subscribe(self._moved)

    @property
    def waiting(self) -> bool:
        """True while a dropped caller is being waited for."""
        return self._timer is not None

    def caller_away(self, away: bool) -> None:
        if self.grace_s <= 0 or self._lifecycle.state not in LIVE_STATES:
            return
        loop = asyncio.get_running_loop()
        if away and self._timer is None:
            # The hold is timed from the drop on the timeline: armed after it is recorded, a
            # pause between the two cannot eat into the grace period.
            self._lifecycle.fire(CallerDropped(self.grace_s))
            self._dropped_at = loop.time()
            self._timer = loop.call_later(self.grace_s, self._expired)
        elif not away and self._timer is not None:
            self.cancel()
            away_s = round(loop.time() - self._dropped_at, 2)
            self._lifecycle.fire(CallerReturned(away_s))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _moved(self, entry: TimelineEntry) -> None:
        if entry.dest not in LIVE_STATES:
            self.cancel()

    def _expired(self) -> None:
        self._timer = None
        if self._lifecycle.state in LIVE_STATES:
            self._lifecycle.fire(ParticipantLeft())
