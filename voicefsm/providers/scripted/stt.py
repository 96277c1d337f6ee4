"""A scripted STT: a real ``stt.STT`` that hears speech as energy and transcribes it with the
utterance it was told to expect."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectionError,
    APIConnectOptions,
    LanguageCode,
    NotGivenOr,
    stt,
)
from livekit.agents.utils import AudioBuffer

from voicefsm.providers.faults import FaultPlan, STTFault
from voicefsm.providers.scripted.audio import frame_energy


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
