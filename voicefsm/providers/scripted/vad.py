"""An energy VAD: a real ``vad.VAD`` for sessions that detect turns by voice activity."""

from __future__ import annotations

from dataclasses import dataclass

from livekit import rtc
from livekit.agents import vad

from voicefsm.providers.scripted.audio import frame_energy


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
