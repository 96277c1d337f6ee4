"""A scripted TTS: a real ``tts.TTS`` that speaks text as a tone of realistic length."""

from __future__ import annotations

import asyncio

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts, utils

from voicefsm.providers.faults import FaultPlan, TTSFault, hang, tts_error
from voicefsm.providers.scripted.audio import tone

TTS_SAMPLE_RATE = 24_000
CHARS_PER_SECOND = 15.0  # about 150 words a minute
#: The most one synthesis speaks (about four and a half minutes at 15 characters a second): a
#: 10 MB text once made it try to allocate 125 GiB of tone. What is past it is not spoken.
MAX_SPOKEN_CHARS = 4_000


class ScriptedTTS(tts.TTS[None]):
    """Speaks text as a tone of ``len(text) / chars_per_s`` seconds after ``ttfb_s``, streaming.

    ``faults`` plays one :class:`TTSFault` per synthesis attempt (livekit's retries included)
    while it has any queued, then its ``always`` fault, if set (a TTS down for good).
    """

    def __init__(self, *, ttfb_s: float = 0.08, chars_per_s: float = CHARS_PER_SECOND) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True),
            sample_rate=TTS_SAMPLE_RATE,
            num_channels=1,
        )
        self.ttfb_s = ttfb_s
        self.chars_per_s = chars_per_s
        self.faults: FaultPlan[TTSFault] = FaultPlan()
        #: How long after its first audio an ``ERROR_MID`` synthesis fails.
        self.mid_fault_after_s = 0.3

    @property
    def model(self) -> str:
        return "scripted-tts"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def audio_for(self, text: str, *, spoken_before: int = 0) -> bytes:
        """The tone for ``text``, within what one synthesis speaks (``spoken_before``: the
        characters this synthesis already spoke)."""
        length = max(0, min(len(text), MAX_SPOKEN_CHARS - spoken_before))
        return tone(length / self.chars_per_s, TTS_SAMPLE_RATE) if length else b""

    def inject(self, *faults: TTSFault) -> None:
        """The next synthesis attempts play ``faults``, one each, in order."""
        self.faults.add(faults)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _ScriptedChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.SynthesizeStream:
        return _ScriptedSynthesizeStream(tts=self, conn_options=conn_options)


async def _before_audio(fault: TTSFault | None) -> None:
    if fault in (TTSFault.ERROR, TTSFault.RETRYABLE_ERROR):
        raise tts_error(fault)
    if fault is TTSFault.STALL:
        await hang()


async def _after_first_audio(fault: TTSFault | None, heard_s: float) -> None:
    if fault is TTSFault.ERROR_MID:
        await asyncio.sleep(heard_s)  # long enough for the first audio to be playing
        raise tts_error(fault)
    if fault is TTSFault.STALL_MID:
        await hang()


class _ScriptedChunkedStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        scripted: ScriptedTTS = self._tts  # type: ignore[assignment]
        fault = scripted.faults.take()
        await asyncio.sleep(scripted.ttfb_s)
        await _before_audio(fault)
        output_emitter.initialize(
            request_id=utils.shortuuid("tts-"),
            sample_rate=TTS_SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        audio = scripted.audio_for(self._input_text)
        half = len(audio) // 4 * 2
        output_emitter.push(audio[:half])
        await _after_first_audio(fault, scripted.mid_fault_after_s)
        output_emitter.push(audio[half:])
        output_emitter.flush()


class _ScriptedSynthesizeStream(tts.SynthesizeStream):
    """Streams like a real TTS: audio for each piece of text as soon as it arrives (after the
    first-byte delay), one segment per stream."""

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        scripted: ScriptedTTS = self._tts  # type: ignore[assignment]
        fault = scripted.faults.take()
        output_emitter.initialize(
            request_id=utils.shortuuid("tts-"),
            sample_rate=TTS_SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        started = False
        spoken = 0
        async for item in self._input_ch:
            if not isinstance(item, str):
                if started:
                    output_emitter.flush()
                continue
            if not started:
                started = True
                output_emitter.start_segment(segment_id=utils.shortuuid("seg-"))
                self._mark_started()
                await asyncio.sleep(scripted.ttfb_s)
                await _before_audio(fault)
                if item:
                    output_emitter.push(scripted.audio_for(item))
                    spoken += len(item)
                await _after_first_audio(fault, scripted.mid_fault_after_s)
                continue
            audio = scripted.audio_for(item, spoken_before=spoken) if item else b""
            spoken += len(item)
            if audio:
                output_emitter.push(audio)
        if started:
            output_emitter.end_segment()
