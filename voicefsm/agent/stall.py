"""Audio that stops coming: a TTS (or the LLM feeding it) that goes quiet mid-speech.

livekit waits as long as a provider's stream stays open, so a synthesis that stalls after its
first audio would keep the agent ``speaking`` forever. Between two frames of one synthesis,
:func:`until_audio_stalls` allows at most a deadline, then fails the synthesis the way a TTS
error does, so that livekit ends the speech and the lifecycle takes its ``reply_failed`` edge.
(Before the first audio, the reply's start deadline (voicefsm.engine.speech) applies: there
a slow LLM and a stalled TTS look the same.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import TypeVar

from voicefsm.errors import AudioStalledError

T = TypeVar("T")


class _SilenceWatch:
    """The producer's silence, timed lazily: a frame only notes the time; one timer per
    deadline period checks, and re-arms for the current wait's deadline while audio flows. (An
    ``asyncio.timeout`` per frame arms and cancels a loop timer for each of them: with a hundred
    sessions speaking, thousands a second in the loop's timer heap.)"""

    def __init__(self, stall_s: float) -> None:
        self._stall_s = stall_s
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the current wait on the producer began
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._cancelling = 0
        self.expired = False

    def waiting(self) -> None:
        """A wait on the producer begins (from the task that will be cancelled if it stalls)."""
        self._since = self._loop.time()
        task = asyncio.current_task()
        if task is not self._task:
            self._task = task
            self._cancelling = task.cancelling() if task is not None else 0
        if self._timer is None:
            self._arm(self._since + self._stall_s)

    def received(self) -> None:
        self._since = None

    def stalled(self) -> bool:
        """After a ``CancelledError`` in the wait: True if it was this watch's own (the
        deadline passed), and nobody else asked for the cancellation too."""
        if not self.expired or self._task is None:
            return False
        self.expired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, deadline: float) -> None:
        self._timer = self._loop.call_at(deadline, self._check, deadline)

    def _check(self, deadline: float) -> None:
        self._timer = None
        since = self._since
        if since is None or self._task is None:
            return  # the consumer has the frame: the next wait arms the timer again
        if since + self._stall_s > deadline:
            self._arm(since + self._stall_s)  # audio came since: this wait's own deadline
            return
        self.expired = True
        self._task.cancel()


async def until_audio_stalls(frames: AsyncIterable[T], stall_s: float) -> AsyncIterator[T]:
    """Yield ``frames``; raise :class:`AudioStalledError` when, after the first frame, the next
    one takes longer than ``stall_s`` to come. Time spent waiting on the consumer is not
    counted: only the producer's silence is."""
    watch = _SilenceWatch(stall_s)
    async with aclosing(aiter(frames)) as iterator:  # type: ignore[type-var]
        try:
            frame = await anext(iterator)
        except StopAsyncIteration:
            return
        try:
            while True:
                yield frame
                watch.waiting()
                try:
                    frame = await anext(iterator)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if watch.stalled():
                        msg = f"no audio for {stall_s:.1f} s in the middle of a synthesis"
                        raise AudioStalledError(msg) from None
                    raise
                finally:
                    watch.received()
        finally:
            watch.close()
