"""Simulated audio devices on a clock that does not wait: ``simulate --fast``.

The same audio as :mod:`voicefsm.providers.devices` (the caller's speech as PCM into the STT,
the agent's synthesised PCM out of the TTS), but no device sleeps: the microphone hands over a
whole utterance and its trailing silence as fast as livekit reads it, and the speaker counts
the seconds it is given instead of waiting them out. Time is kept on the audio itself, so a
barge-in keeps its meaning: :meth:`FastSpeaker.arm` holds the agent's next segment at a
position (``interrupt_after_ms``) until the caller has spoken over it, and what the caller heard
of an interrupted segment is the text in proportion to the audio played (the words that had
begun), reported to livekit as the synchronised transcript.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice import io

from voicefsm.providers.devices import FRAME_S, MIC_SAMPLE_RATE
from voicefsm.providers.scripted import tone

#: Quiet after each utterance: more than a scripted STT's end of speech (0.25 s) needs.
TRAILING_SILENCE_S = 0.4
_SILENCE = bytes(int(MIC_SAMPLE_RATE * FRAME_S) * 2)


class FastMicrophone(io.AudioInput):
    """A microphone that gives livekit each utterance at once, then nothing until the next."""

    def __init__(self, announce: Callable[[str], None], *, words_per_s: float = 2.5) -> None:
        super().__init__(label="fast-microphone")
        self._announce = announce
        self._words_per_s = words_per_s
        self._frames: deque[bytes] = deque()
        self._available = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False

    async def speak(self, text: str) -> None:
        """Say ``text`` (then fall quiet); returns once livekit has taken all of it."""
        self._announce(text)
        duration = max(0.3, len(text.split()) / self._words_per_s)
        pcm = tone(duration, MIC_SAMPLE_RATE, frequency=180.0, level=0.3)
        step = len(_SILENCE)
        self._frames.extend(pcm[i : i + step].ljust(step, b"\0") for i in range(0, len(pcm), step))
        self._frames.extend([_SILENCE] * math.ceil(TRAILING_SILENCE_S / FRAME_S))
        self._drained.clear()
        self._available.set()
        while not self._drained.is_set() and not self._closed:
            await self._drained.wait()

    def close(self) -> None:
        self._closed = True
        self._available.set()
        self._drained.set()

    async def __anext__(self) -> rtc.AudioFrame:
        while not self._frames:
            if self._closed:
                raise StopAsyncIteration
            self._available.clear()
            await self._available.wait()
        await asyncio.sleep(0)  # one frame at a time, as a device delivers them
        data = self._frames.popleft()
        if not self._frames:
            self._drained.set()
        return rtc.AudioFrame(
            data=data,
            sample_rate=MIC_SAMPLE_RATE,
            num_channels=1,
            samples_per_channel=len(data) // 2,
        )


class FastTranscript(io.TextOutput):
    """The agent's text as livekit forwards it, kept per segment for :class:`FastSpeaker`."""

    def __init__(self) -> None:
        super().__init__(label="fast-transcript", next_in_chain=None)
        self._current = ""
        self.last = ""

    async def capture_text(self, text: str) -> None:
        self._current += text

    def flush(self) -> None:
        if self._current:
            self.last = self._current
        self._current = ""

    @property
    def text(self) -> str:
        """The segment being said (or, once its text is complete, the last one)."""
        return self._current or self.last


def heard_words(text: str, played_s: float, total_s: float) -> str:
    """The words of ``text`` that had begun once ``played_s`` of its ``total_s`` was played."""
    if total_s <= 0 or played_s >= total_s:
        return text
    reached = len(text) * played_s / total_s
    heard: list[str] = []
    offset = 0
    for word in text.split(" "):
        if offset >= reached:
            break
        heard.append(word)
        offset += len(word) + 1
    return " ".join(heard).strip()


class FastSpeaker(io.AudioOutput):
    """Plays each segment at once, on its own clock: its position is the audio it was given.

    :meth:`arm` makes the next segment stop at a position and wait there (``held``) for the
    caller to speak over it; livekit's interruption then ends it, or :meth:`release` lets it
    play out (a speech that cannot be interrupted)."""

    def __init__(self, transcript: FastTranscript) -> None:
        super().__init__(label="fast-speaker", capabilities=io.AudioOutputCapabilities(pause=False))
        self._transcript = transcript
        self._open = False
        self._complete = False
        self._position = 0.0
        self._pushed = 0.0
        self._mark: float | None = None
        self.held = False
        #: Set once an armed position is reached with the segment's audio all in, or the
        #: segment ended before it: the caller's cue to talk.
        self.reached = asyncio.Event()
        self.playing = asyncio.Event()
        self.segments_played = 0
        self.last_started_at = 0.0
        self._watchers: list[Callable[[], None]] = []

    def watch(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` whenever playback starts, stops or reaches its armed position."""
        self._watchers.append(changed)

    def arm(self, position_s: float) -> None:
        """Hold the next segment (or the one playing) at ``position_s`` into it."""
        self._mark = position_s
        self.reached.clear()
        self._advance()

    def release(self) -> None:
        """Let a held segment play on to its end."""
        self._mark = None
        if self.held:
            self.held = False
            self._advance()
            if self._complete:
                self._finish(interrupted=False)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._open:
            self._open, self._complete, self.held = True, False, False
            self._position = self._pushed = 0.0
            self.last_started_at = asyncio.get_running_loop().time()
            self.playing.set()
            self.on_playback_started(created_at=time.time())
            self._changed()
        self._pushed += frame.samples_per_channel / frame.sample_rate
        self._advance()

    def _advance(self) -> None:
        if not self._open or self.held:
            return
        if self._mark is not None and self._pushed >= self._mark:
            self._position, self.held = self._mark, True
        else:
            self._position = self._pushed

    def flush(self) -> None:
        super().flush()
        if not self._open:
            return
        self._complete = True
        if self.held:
            self.reached.set()  # all of it is in: what is heard at the mark is known
            self._changed()
            return
        self._finish(interrupted=False)

    def clear_buffer(self) -> None:
        if self._open:
            self._finish(interrupted=True)

    def _finish(self, *, interrupted: bool) -> None:
        self._open = self.held = False
        if not interrupted:
            self._position = self._pushed
        if self._mark is not None or interrupted:
            self._mark = None
            self.reached.set()  # the segment ended before (or at) the armed position
        heard = heard_words(self._transcript.text, self._position, self._pushed)
        self.playing.clear()
        self.segments_played += 1
        self.on_playback_finished(
            playback_position=self._position,
            interrupted=interrupted,
            synchronized_transcript=heard if interrupted else None,
        )
        self._changed()

    def _changed(self) -> None:
        for changed in self._watchers:
            changed()

    async def aclose(self) -> None:
        self._watchers.clear()


def attach_fast_audio(
    session: AgentSession[Any], announce: Callable[[str], None], *, words_per_s: float = 2.5
) -> tuple[FastMicrophone, FastSpeaker]:
    """Give ``session`` a fast microphone and speaker (and the text output the speaker reads
    what was heard from)."""
    microphone = FastMicrophone(announce, words_per_s=words_per_s)
    transcript = FastTranscript()
    speaker = FastSpeaker(transcript)
    session.input.audio = microphone
    session.output.audio = speaker
    session.output.transcription = transcript
    return microphone, speaker
