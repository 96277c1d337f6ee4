"""Production providers from settings: Deepgram STT, ElevenLabs TTS, and an LLM either by LiveKit
inference model string or from an OpenAI-compatible endpoint. VAD and turn detection are chosen
explicitly (livekit would otherwise construct a turn detector on its own).

Call :func:`voicefsm.settings.check_providers` first: it names every variable that is missing.
"""

from __future__ import annotations

from livekit.agents import NOT_GIVEN, TurnHandlingOptions, inference
from livekit.plugins import deepgram, elevenlabs, openai
from pydantic import SecretStr

from voicefsm.providers import Providers
from voicefsm.providers.turns import merged, turn_handling
from voicefsm.settings import Settings

DEEPGRAM_URL = "https://api.deepgram.com/v1/listen"


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def build_stt(settings: Settings) -> deepgram.STT:
    return deepgram.STT(
        model=settings.stt_model,
        language=settings.stt_language,
        api_key=_secret(settings.deepgram_api_key),
        base_url=str(settings.deepgram_base_url) if settings.deepgram_base_url else DEEPGRAM_URL,
    )


def build_tts(settings: Settings) -> elevenlabs.TTS:
    return elevenlabs.TTS(
        voice_id=settings.tts_voice_id,
        model=settings.tts_model,
        encoding=settings.tts_encoding,  # type: ignore[arg-type]
        api_key=_secret(settings.eleven_api_key),
        base_url=(
            str(settings.elevenlabs_base_url).rstrip("/")
            if settings.elevenlabs_base_url
            else NOT_GIVEN
        ),
    )


def build_llm(settings: Settings) -> openai.LLM | inference.LLM:
    """The configured model: a LiveKit inference model string, or the model at an
    OpenAI-compatible endpoint (``VOICEFSM_LLM_BASE_URL``). Check it with
    :func:`voicefsm.settings.check_llm` first."""
    if settings.llm_base_url is not None:
        return openai.LLM(
            model=settings.llm_model,
            base_url=str(settings.llm_base_url),
            api_key=_secret(settings.llm_api_key),
        )
    return inference.LLM(
        settings.llm_model,
        api_key=_secret(settings.livekit_api_key),
        api_secret=_secret(settings.livekit_api_secret),
    )


def build_providers(settings: Settings, turns: TurnHandlingOptions | None = None) -> Providers:
    """The real plugins, configured from (already checked) settings; ``turns`` (livekit's turn
    handling options, from ``build_server``) over what the settings say."""
    return Providers(
        stt=build_stt(settings),
        llm=build_llm(settings),
        tts=build_tts(settings),
        vad=inference.VAD(model="silero") if settings.vad == "silero" else None,
        turn_detection=settings.turn_detection,
        min_endpointing_delay_s=settings.min_endpointing_delay_s,
        turn_handling=merged(turn_handling(settings), turns),
    )
