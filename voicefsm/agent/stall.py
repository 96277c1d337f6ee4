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


async def until_audio_stalls(frames: AsyncIterable[T], stall_s: float) -> AsyncIterator[T]:
    """Yield ``frames``; raise :class:`AudioStalledError` when, after the first frame, the next
    one takes longer than ``stall_s`` to come. Time spent waiting on the consumer is not
    counted: only the producer's silence is."""
    async with aclosing(aiter(frames)) as iterator:  # type: ignore[type-var]
        waiting_for_first = True
        while True:
            try:
                if waiting_for_first:
                    frame = await anext(iterator)
                else:
                    async with asyncio.timeout(stall_s):
                        frame = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                msg = f"no audio for {stall_s:.1f} s in the middle of a synthesis"
                raise AudioStalledError(msg) from None
            waiting_for_first = False
            yield frame
