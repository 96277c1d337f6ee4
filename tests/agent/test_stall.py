"""The audio deadline of a synthesis on its own: the producer's silence counts, the consumer's
time does not, and a cancellation from outside stays a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voicefsm.agent.stall import until_audio_stalls
from voicefsm.errors import AudioStalledError

STALL_S = 0.5


async def frames(gaps: list[float], *, then_hang: bool = False) -> AsyncIterator[int]:
    """A frame after each gap; then the end of the synthesis, or silence for good."""
    for index, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield index
    if then_hang:
        await asyncio.Event().wait()


async def collect(stream: AsyncIterator[int], heard: list[int]) -> None:
    async for frame in stream:
        heard.append(frame)


async def test_audio_that_stops_mid_synthesis_fails_it_at_the_deadline() -> None:
    heard: list[int] = []
    stream = until_audio_stalls(frames([0.0, 0.01, 0.01], then_hang=True), STALL_S)
    with pytest.raises(AudioStalledError):
        await collect(stream, heard)
    assert heard == [0, 1, 2]


async def test_a_steady_stream_longer_than_the_deadline_plays_to_its_end() -> None:
    gaps = [0.0] + [0.05] * 30  # 1.5 s in all, three deadlines, never silent for one
    heard = [frame async for frame in until_audio_stalls(frames(gaps), STALL_S)]
    assert heard == list(range(31))


async def test_the_first_frame_may_take_longer_than_the_deadline() -> None:
    """Before the first audio the reply's start deadline applies, not this one."""
    heard = [frame async for frame in until_audio_stalls(frames([STALL_S * 1.5, 0.01]), STALL_S)]
    assert heard == [0, 1]


async def test_time_the_consumer_takes_is_not_the_producers_silence() -> None:
    heard = []
    async for frame in until_audio_stalls(frames([0.0, 0.0, 0.0]), STALL_S):
        heard.append(frame)
        await asyncio.sleep(STALL_S * 1.5)  # a slow sink holding each frame
    assert heard == [0, 1, 2]


async def test_a_cancellation_from_outside_is_not_mistaken_for_a_stall() -> None:
    started = asyncio.Event()

    async def listen() -> None:
        async for _frame in until_audio_stalls(frames([0.0], then_hang=True), STALL_S):
            started.set()

    task = asyncio.create_task(listen())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_task_goes_on_after_a_stall() -> None:
    """The stall's own cancellation is consumed: the synthesis fails, its task carries on."""
    with pytest.raises(AudioStalledError):
        await collect(until_audio_stalls(frames([0.0], then_hang=True), STALL_S), [])
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending for this task
