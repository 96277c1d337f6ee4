"""The simulated microphone keeps real time like a room's input: detached (livekit's
``set_audio_enabled(False)``), its frames are dropped, not delivered late."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents.voice.io import AgentInput

from voicefsm.providers.devices import FRAME_S, SimulatedMicrophone


async def test_a_detached_microphone_drops_its_frames_and_speech_in_real_time() -> None:
    microphone = SimulatedMicrophone(lambda _text: None, words_per_s=20.0)
    agent_input = AgentInput(video_changed=lambda: None, audio_changed=lambda: None)
    agent_input.audio = microphone
    frames = aiter(microphone)
    assert len((await anext(frames)).data) > 0  # attached: a frame every 20 ms

    agent_input.set_audio_enabled(False)
    next_frame = asyncio.ensure_future(anext(frames))
    # Said while detached: it plays out (speak returns) and none of it is delivered.
    await asyncio.wait_for(microphone.speak("one two three four five six"), 5)
    await asyncio.sleep(FRAME_S * 3)
    assert not next_frame.done()

    agent_input.set_audio_enabled(True)
    frame = await asyncio.wait_for(next_frame, 1)
    assert not any(frame.data)  # silence: the speech went while nobody listened
    microphone.close()


async def test_a_detached_microphone_ends_when_closed() -> None:
    microphone = SimulatedMicrophone(lambda _text: None)
    microphone.on_detached()
    next_frame = asyncio.ensure_future(anext(aiter(microphone)))
    await asyncio.sleep(FRAME_S * 2)
    microphone.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(next_frame, 1)
