"""Offline providers: real implementations of livekit's ``stt.STT``, ``llm.LLM``, ``tts.TTS`` and
``vad.VAD`` that behave like network providers (streaming, first-byte delays, real PCM audio of
realistic length, errors on demand), driven by a script instead of a model, so sessions run with
no keys and no network. They are what ``voicefsm simulate`` and the session tests run on.
"""

from voicefsm.providers.scripted.audio import frame_energy, tone
from voicefsm.providers.scripted.judge import ScriptedJudge
from voicefsm.providers.scripted.llm import (
    ScriptedLLM,
    ScriptedToolCall,
    ScriptedTurn,
    default_reply,
)
from voicefsm.providers.scripted.stt import ScriptedSTT
from voicefsm.providers.scripted.tts import TTS_SAMPLE_RATE, ScriptedTTS
from voicefsm.providers.scripted.vad import EnergyVAD

__all__ = [
    "TTS_SAMPLE_RATE",
    "EnergyVAD",
    "ScriptedJudge",
    "ScriptedLLM",
    "ScriptedSTT",
    "ScriptedTTS",
    "ScriptedToolCall",
    "ScriptedTurn",
    "default_reply",
    "frame_energy",
    "tone",
]
