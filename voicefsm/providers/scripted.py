"""Offline providers: real implementations of livekit's ``stt.STT``, ``llm.LLM`` and ``tts.TTS``
that behave like network providers (streaming, first-byte delays, real PCM audio of realistic
length, errors on demand), driven by a script instead of a model, so sessions run with no keys
and no network. They are what ``voicefsm simulate`` and the session tests run on.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    llm,
    stt,
    tts,
    utils,
    vad,
)
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

from voicefsm.providers.faults import (
    FaultPlan,
    LLMFault,
    STTFault,
    TTSFault,
    hang,
    llm_fault_before_first_token,
    tts_error,
)

TTS_SAMPLE_RATE = 24_000
CHARS_PER_SECOND = 15.0  # about 150 words a minute


def default_reply(user_text: str) -> str:
    """A deterministic assistant: acknowledges the user's words, at a realistic length."""
    words = " ".join(user_text.split()[:12])
    return f"Thanks, I heard: {words}. Happy to help with that."


def tone(
    duration_s: float, sample_rate: int, *, frequency: float = 220.0, level: float = 0.2
) -> bytes:
    """``duration_s`` of a sine tone as 16-bit mono PCM: audio with energy, like speech."""
    samples = max(1, int(duration_s * sample_rate))
    t = np.arange(samples, dtype=np.float64) / sample_rate
    wave = (np.sin(2 * math.pi * frequency * t) * level * 32767).astype("<i2")
    return wave.tobytes()


# -- LLM -----------------------------------------------------------------------------------------


class ScriptedLLM(llm.LLM[None]):
    """Streams ``reply(user_text)`` word by word after ``ttft_s``.

    Faults are scripted per turn: :meth:`inject` queues :class:`LLMFault` s for the requests
    answering one user text (each attempt, livekit's retries included, plays the next one);
    ``down`` is played by every request with nothing queued (an LLM down for good).
    """

    def __init__(
        self,
        *,
        reply: Callable[[str], str] = default_reply,
        ttft_s: float = 0.15,
        words_per_s: float = 40.0,
    ) -> None:
        super().__init__()
        self._reply = reply
        self.ttft_s = ttft_s
        self.words_per_s = words_per_s
        self._faults: dict[str, FaultPlan[LLMFault]] = {}
        self.down: LLMFault | None = None
        #: Every fault played, in order.
        self.faults_played: list[LLMFault] = []
        self.calls = 0
        #: A copy of every chat context this LLM was asked to continue, in order: exactly what
        #: a real model would have received (tests read the prompt from here).
        self.chat_contexts: list[llm.ChatContext] = []

    @property
    def model(self) -> str:
        return "scripted-llm"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def inject(self, user_text: str, *faults: LLMFault) -> None:
        """The next requests answering ``user_text`` play ``faults``, one each, in order."""
        self._faults.setdefault(user_text, FaultPlan()).add(faults)

    def fail(self, user_text: str, times: int = 1) -> None:
        """The next ``times`` replies to ``user_text`` fail like an outage (a 503)."""
        self.inject(user_text, *[LLMFault.ERROR] * times)

    def take_fault(self, user_text: str) -> LLMFault | None:
        plan = self._faults.get(user_text)
        fault = (plan.take() if plan else None) or self.down
        if fault is not None:
            self.faults_played.append(fault)
        return fault

    def reply_for(self, user_text: str) -> str:
        return self._reply(user_text)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, object]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        self.calls += 1
        self.chat_contexts.append(chat_ctx.copy())
        return _ScriptedLLMStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


def _last_user_text(chat_ctx: llm.ChatContext) -> str:
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return item.text_content or ""
    return ""


class _ScriptedLLMStream(llm.LLMStream):
    async def _run(self) -> None:
        scripted: ScriptedLLM = self._llm  # type: ignore[assignment]
        user_text = _last_user_text(self._chat_ctx)
        request_id = utils.shortuuid("scripted-")
        fault = scripted.take_fault(user_text)
        await asyncio.sleep(scripted.ttft_s)
        if fault is not None:
            await llm_fault_before_first_token(fault, self._conn_options.timeout)
        words = [] if fault is LLMFault.EMPTY else scripted.reply_for(user_text).split()
        for index, word in enumerate(words):
            content = word if index == 0 else " " + word
            delta = llm.ChoiceDelta(role="assistant", content=content)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
            await asyncio.sleep(1 / scripted.words_per_s)
        usage = llm.CompletionUsage(
            completion_tokens=len(words),
            prompt_tokens=len(self._chat_ctx.items) * 8,
            total_tokens=len(words) + len(self._chat_ctx.items) * 8,
        )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=usage))


# -- TTS -----------------------------------------------------------------------------------------


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

    def audio_for(self, text: str) -> bytes:
        return tone(len(text) / self.chars_per_s, TTS_SAMPLE_RATE)

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
                await _after_first_audio(fault, scripted.mid_fault_after_s)
                continue
            if item:
                output_emitter.push(scripted.audio_for(item))
        if started:
            output_emitter.end_segment()


# -- STT -----------------------------------------------------------------------------------------


@dataclass
class _Utterance:
    text: str
    language: str


class ScriptedSTT(stt.STT[None]):
    """Hears speech as energy in the audio and transcribes it with the next scripted utterance.

    Whoever plays the user's audio calls :meth:`expect` with what the user says first. Speech
    starts at the first loud frame; interim transcripts grow with the speech; the final
    transcript and end of speech follow ``end_silence_s`` of quiet.
    """

    def __init__(
        self, *, end_silence_s: float = 0.25, threshold: float = 500.0, language: str = "en"
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))
        self.end_silence_s = end_silence_s
        self.threshold = threshold
        self.language = language
        self._queue: deque[_Utterance] = deque()
        #: :meth:`inject` ed faults; ``faults.always = STTFault.DOWN`` takes the STT down for good.
        self.faults: FaultPlan[STTFault] = FaultPlan()
        #: How far into an utterance (seconds of speech) a ``DROP`` cuts the connection.
        self.drop_after_s = 0.4

    @property
    def model(self) -> str:
        return "scripted-stt"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def expect(self, text: str) -> None:
        self._queue.append(_Utterance(text, self.language))

    def inject(self, *faults: STTFault) -> None:
        """The next utterances play ``faults``: ``DROP`` cuts the connection in the middle of
        one; ``DOWN`` fails the connection at the next audio frame, and every one after it."""
        self.faults.add(faults)

    def hear_again(self, utterance: _Utterance, words_heard: int) -> None:
        """A dropped connection lost the words recognised so far: a new connection hears (and
        transcribes) only the rest of the utterance, as a real streaming STT would."""
        rest = utterance.text.split()[words_heard:]
        if rest:
            self._queue.appendleft(_Utterance(" ".join(rest), utterance.language))

    def next_utterance(self) -> _Utterance:
        return self._queue.popleft() if self._queue else _Utterance("", self.language)

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        utterance = self.next_utterance()
        return _event(stt.SpeechEventType.FINAL_TRANSCRIPT, utterance.text, utterance.language)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _ScriptedRecognizeStream(stt=self, conn_options=conn_options)


def _event(kind: stt.SpeechEventType, text: str = "", language: str = "en") -> stt.SpeechEvent:
    if kind in (stt.SpeechEventType.START_OF_SPEECH, stt.SpeechEventType.END_OF_SPEECH):
        return stt.SpeechEvent(type=kind)
    data = stt.SpeechData(language=LanguageCode(language), text=text, confidence=0.95)
    return stt.SpeechEvent(type=kind, alternatives=[data])


def frame_energy(frame: rtc.AudioFrame) -> float:
    samples = np.frombuffer(frame.data, dtype=np.int16)
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


class _ScriptedRecognizeStream(stt.RecognizeStream):
    async def _run(self) -> None:
        scripted: ScriptedSTT = self._stt  # type: ignore[assignment]
        speaking = False
        utterance = _Utterance("", scripted.language)
        spoken_s = quiet_s = heard_s = 0.0
        interim_words = 0
        if scripted.faults.peek() is STTFault.DOWN:
            scripted.faults.take()
            raise APIConnectionError("scripted STT unavailable", retryable=False)
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue  # a flush: nothing is buffered here
            duration = item.samples_per_channel / item.sample_rate
            heard_s += duration
            fault = scripted.faults.peek()
            if fault is STTFault.DOWN or (
                fault is STTFault.DROP and speaking and spoken_s >= scripted.drop_after_s
            ):
                scripted.faults.take()
                if speaking:
                    scripted.hear_again(utterance, interim_words)
                raise APIConnectionError(
                    "scripted STT connection dropped", retryable=fault is STTFault.DROP
                )
            loud = frame_energy(item) >= scripted.threshold
            if loud and not speaking:
                speaking, spoken_s, quiet_s, interim_words = True, 0.0, 0.0, 0
                utterance = scripted.next_utterance()
                self._event_ch.send_nowait(_event(stt.SpeechEventType.START_OF_SPEECH))
            if not speaking:
                continue
            if loud:
                spoken_s += duration
                quiet_s = 0.0
                words = utterance.text.split()
                # About three words a second, shown as they would be recognised.
                heard = min(len(words), int(spoken_s * 3) + 1)
                if heard > interim_words and words:
                    interim_words = heard
                    self._event_ch.send_nowait(
                        _event(
                            stt.SpeechEventType.INTERIM_TRANSCRIPT,
                            " ".join(words[:heard]),
                            utterance.language,
                        )
                    )
                continue
            quiet_s += duration
            if quiet_s >= scripted.end_silence_s:
                speaking = False
                self._event_ch.send_nowait(
                    _event(stt.SpeechEventType.FINAL_TRANSCRIPT, utterance.text, utterance.language)
                )
                self._event_ch.send_nowait(_event(stt.SpeechEventType.END_OF_SPEECH))
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.RECOGNITION_USAGE,
                        recognition_usage=stt.RecognitionUsage(audio_duration=heard_s),
                    )
                )
                heard_s = 0.0


# -- VAD -----------------------------------------------------------------------------------------


class EnergyVAD(vad.VAD):
    """Voice activity from frame energy: speech after ``min_speech_s`` of loud audio, its end
    after ``min_silence_s`` of quiet. Reports every frame, as livekit's interruption logic
    expects of a VAD."""

    def __init__(
        self, *, threshold: float = 500.0, min_speech_s: float = 0.06, min_silence_s: float = 0.25
    ) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.02))
        self.threshold = threshold
        self.min_speech_s = min_speech_s
        self.min_silence_s = min_silence_s

    @property
    def model(self) -> str:
        return "energy-vad"

    @property
    def provider(self) -> str:
        return "voicefsm-scripted"

    def stream(self) -> vad.VADStream:
        return _EnergyVADStream(self)


class _EnergyVADStream(vad.VADStream):
    async def _main_task(self) -> None:
        detector: EnergyVAD = self._vad  # type: ignore[assignment]
        speaking = False
        speech_s = silence_s = 0.0
        samples = 0
        utterance: list[rtc.AudioFrame] = []
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue
            duration = item.samples_per_channel / item.sample_rate
            samples += item.samples_per_channel
            loud = frame_energy(item) >= detector.threshold
            if loud:
                speech_s += duration
                silence_s = 0.0
            else:
                silence_s += duration
                if not speaking:
                    speech_s = 0.0
            if speaking or loud:
                utterance.append(item)
            kind = vad.VADEventType.INFERENCE_DONE
            frames = [item]
            if not speaking and speech_s >= detector.min_speech_s:
                speaking, kind = True, vad.VADEventType.START_OF_SPEECH
            elif speaking and silence_s >= detector.min_silence_s:
                speaking, kind, frames = False, vad.VADEventType.END_OF_SPEECH, utterance
            now = _Activity(samples, item.sample_rate, speech_s, silence_s, loud, speaking)
            if kind is not vad.VADEventType.INFERENCE_DONE:
                self._event_ch.send_nowait(now.event(kind, frames))
            if kind is vad.VADEventType.END_OF_SPEECH:
                utterance, speech_s = [], 0.0
            self._event_ch.send_nowait(now.event(vad.VADEventType.INFERENCE_DONE, [item]))


@dataclass(frozen=True, slots=True)
class _Activity:
    samples: int
    sample_rate: int
    speech_s: float
    silence_s: float
    loud: bool
    speaking: bool

    def event(self, kind: vad.VADEventType, frames: list[rtc.AudioFrame]) -> vad.VADEvent:
        return vad.VADEvent(
            type=kind,
            samples_index=self.samples,
            timestamp=self.samples / self.sample_rate,
            speech_duration=self.speech_s,
            silence_duration=self.silence_s,
            frames=frames,
            probability=1.0 if self.loud else 0.0,
            speaking=self.speaking,
        )
