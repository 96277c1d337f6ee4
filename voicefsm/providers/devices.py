"""Simulated audio devices for offline sessions: a microphone and a speaker that keep real time.

The microphone is an ``AudioInput`` yielding 20 ms frames at the pace of a real one: silence,
or speech while :meth:`SimulatedMicrophone.speak` runs. The speaker is an ``AudioOutput`` that
plays captured frames in real time and reports playback start and finish (with the position
reached, and whether it was cut off) exactly as livekit expects of a sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice import TranscriptSynchronizer, io

from voicefsm.providers.scripted import tone

MIC_SAMPLE_RATE = 16_000
FRAME_S = 0.02
_SILENCE = bytes(int(MIC_SAMPLE_RATE * FRAME_S) * 2)


class SimulatedMicrophone(io.AudioInput):
    """A microphone in front of a simulated user."""

    def __init__(self, announce: Callable[[str], None], *, words_per_s: float = 2.5) -> None:
        """``announce`` learns what the user is about to say: the scripted STT (or a vendor stub
        in tests) transcribes the audio that follows with it."""
        super().__init__(label="simulated-microphone")
        self._announce = announce
        self._words_per_s = words_per_s
        self._speech: deque[bytes] = deque()
        self._next_frame_at: float | None = None
        self._closed = False
        self._detached = False

    def on_attached(self) -> None:
        self._detached = False

    def on_detached(self) -> None:
        # As livekit's room input: the audio goes on in real time, its frames are dropped.
        self._detached = True

    async def speak(self, text: str) -> None:
        """Say ``text``: the STT is told what it will hear; returns when the speech has played."""
        self._announce(text)
        duration = max(0.3, len(text.split()) / self._words_per_s)
        pcm = tone(duration, MIC_SAMPLE_RATE, frequency=180.0, level=0.3)
        step = len(_SILENCE)
        self._speech.extend(pcm[i : i + step].ljust(step, b"\0") for i in range(0, len(pcm), step))
        while self._speech and not self._closed:
            await asyncio.sleep(FRAME_S)

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        if self._next_frame_at is None:
            self._next_frame_at = loop.time()
        while True:
            self._next_frame_at += FRAME_S
            await asyncio.sleep(max(0.0, self._next_frame_at - loop.time()))
            data = self._speech.popleft() if self._speech else _SILENCE
            if not self._detached:
                break
            if self._closed:
                raise StopAsyncIteration
        return rtc.AudioFrame(
            data=data,
            sample_rate=MIC_SAMPLE_RATE,
            num_channels=1,
            samples_per_channel=len(data) // 2,
        )


class SimulatedSpeaker(io.AudioOutput):
    """Plays captured frames in real time; reports playback like a real sink."""

    def __init__(self) -> None:
        super().__init__(
            label="simulated-speaker", capabilities=io.AudioOutputCapabilities(pause=False)
        )
        self._frames: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue()
        self._player: asyncio.Task[None] | None = None
        self._position = 0.0
        self._segment_open = False
        self._cleared = asyncio.Event()
        self.playing = asyncio.Event()
        self.segments_played = 0
        #: When the current (or last) segment began to play (loop time): for latency figures.
        self.last_started_at = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._player is None or self._player.done():
            self._player = asyncio.create_task(self._play(), name="simulated-speaker")
        self._segment_open = True
        self._frames.put_nowait(frame)

    def flush(self) -> None:
        super().flush()
        if self._segment_open:
            self._segment_open = False
            self._frames.put_nowait(None)  # end of segment marker

    def clear_buffer(self) -> None:
        was_playing = self._segment_open or not self._frames.empty() or self.playing.is_set()
        while not self._frames.empty():
            self._frames.get_nowait()
        if was_playing:
            self._cleared.set()

    async def _play(self) -> None:
        started = False
        while True:
            frame = await self._frames.get()
            if frame is None:  # the segment played to its end
                if started:
                    self._finish(interrupted=False)
                started = False
                continue
            if not started:
                started = True
                self._position = 0.0
                self._cleared.clear()
                self.last_started_at = asyncio.get_running_loop().time()
                self.playing.set()
                self.on_playback_started(created_at=time.time())
            duration = frame.samples_per_channel / frame.sample_rate
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cleared.wait(), duration)
            if self._cleared.is_set():
                self._cleared.clear()
                self._finish(interrupted=True)
                started = False
                continue
            self._position += duration

    def _finish(self, *, interrupted: bool) -> None:
        self.playing.clear()
        self.segments_played += 1
        self.on_playback_finished(playback_position=self._position, interrupted=interrupted)

    async def aclose(self) -> None:
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._player


class CollectedText(io.TextOutput):
    """Keeps the transcription text livekit forwards (the end of the text output chain)."""

    def __init__(self) -> None:
        super().__init__(label="collected-text", next_in_chain=None)
        self.segments: list[str] = []
        self._current = ""

    async def capture_text(self, text: str) -> None:
        self._current += text

    def flush(self) -> None:
        if self._current:
            self.segments.append(self._current)
        self._current = ""


def attach_simulated_audio(
    session: AgentSession[Any], announce: Callable[[str], None], *, words_per_s: float = 2.5
) -> tuple[SimulatedMicrophone, SimulatedSpeaker]:
    """Give ``session`` a simulated microphone and speaker, with livekit's own transcript
    synchroniser in between (so an interrupted reply keeps only the words actually played)."""
    microphone = SimulatedMicrophone(announce, words_per_s=words_per_s)
    speaker = SimulatedSpeaker()
    synchronizer = TranscriptSynchronizer(
        next_in_chain_audio=speaker, next_in_chain_text=CollectedText()
    )
    session.input.audio = microphone
    session.output.audio = synchronizer.audio_output
    session.output.transcription = synchronizer.text_output
    return microphone, speaker
