"""Production providers from settings: Deepgram STT, ElevenLabs TTS, and an LLM either by LiveKit
inference model string or from an OpenAI-compatible endpoint. VAD and turn detection are chosen
explicitly (livekit would otherwise construct a turn detector on its own).

Missing or invalid settings raise one ConfigurationError naming every variable at fault.
"""

from __future__ import annotations

from typing import Literal

from livekit.agents import NOT_GIVEN, inference
from livekit.plugins import deepgram, elevenlabs, openai
from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicefsm.agent.plumbing import Providers
from voicefsm.errors import ConfigurationError

DEEPGRAM_URL = "https://api.deepgram.com/v1/listen"


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VOICEFSM_", env_file=".env", extra="ignore", frozen=True
    )

    deepgram_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DEEPGRAM_API_KEY", "VOICEFSM_DEEPGRAM_API_KEY")
    )
    deepgram_base_url: AnyHttpUrl | None = None  # a self-hosted or test endpoint
    stt_model: str = "nova-3"
    stt_language: str = "en-US"

    eleven_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ELEVEN_API_KEY", "VOICEFSM_ELEVEN_API_KEY")
    )
    elevenlabs_base_url: AnyHttpUrl | None = None
    tts_voice_id: str = "hpp4J3VqNfWAUOO0d1Us"
    tts_model: str = "eleven_turbo_v2_5"
    tts_encoding: str = "pcm_24000"

    #: A LiveKit inference model string ("openai/gpt-4.1-mini"), or the model name at
    #: VOICEFSM_LLM_BASE_URL when that is set.
    llm_model: str = "openai/gpt-4.1-mini"
    llm_base_url: AnyHttpUrl | None = None  # an OpenAI-compatible endpoint
    llm_api_key: SecretStr | None = None

    livekit_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_KEY", "VOICEFSM_LIVEKIT_API_KEY")
    )
    livekit_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_SECRET", "VOICEFSM_LIVEKIT_API_SECRET")
    )

    turn_detection: Literal["stt", "vad", "manual"] = "stt"
    vad: Literal["silero", "none"] = "silero"
    min_endpointing_delay_s: float = Field(0.5, ge=0, le=5)


_NAMES = {
    "deepgram_api_key": "DEEPGRAM_API_KEY",
    "eleven_api_key": "ELEVEN_API_KEY",
    "livekit_api_key": "LIVEKIT_API_KEY",
    "livekit_api_secret": "LIVEKIT_API_SECRET",
}


def _name(field: str) -> str:
    return _NAMES.get(field, f"VOICEFSM_{field.upper()}")


def load_provider_settings(**overrides: object) -> ProviderSettings:
    """Read and check everything the real providers need; never echoes a value."""
    try:
        settings = ProviderSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            f"{_name(str(e['loc'][0]))}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError("invalid provider settings: " + "; ".join(problems)) from None
    missing = [
        _name(f) for f in ("deepgram_api_key", "eleven_api_key") if getattr(settings, f) is None
    ]
    if settings.llm_base_url is None:
        # LiveKit inference authenticates with the LiveKit API key and secret.
        missing += [
            _name(f)
            for f in ("livekit_api_key", "livekit_api_secret")
            if getattr(settings, f) is None
        ]
    elif settings.llm_api_key is None:
        missing.append(_name("llm_api_key"))
    if missing:
        raise ConfigurationError("missing provider settings: " + ", ".join(missing) + " not set")
    if settings.turn_detection == "vad" and settings.vad == "none":
        msg = "VOICEFSM_TURN_DETECTION=vad needs a VAD: set VOICEFSM_VAD=silero"
        raise ConfigurationError(msg)
    return settings


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def build_providers(settings: ProviderSettings) -> Providers:
    """The real plugins, configured from (already checked) settings."""
    stt = deepgram.STT(
        model=settings.stt_model,
        language=settings.stt_language,
        api_key=_secret(settings.deepgram_api_key),
        base_url=str(settings.deepgram_base_url) if settings.deepgram_base_url else DEEPGRAM_URL,
    )
    tts = elevenlabs.TTS(
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
    llm: openai.LLM | inference.LLM
    if settings.llm_base_url is not None:
        llm = openai.LLM(
            model=settings.llm_model,
            base_url=str(settings.llm_base_url),
            api_key=_secret(settings.llm_api_key),
        )
    else:
        llm = inference.LLM(
            settings.llm_model,
            api_key=_secret(settings.livekit_api_key),
            api_secret=_secret(settings.livekit_api_secret),
        )
    vad = inference.VAD(model="silero") if settings.vad == "silero" else None
    return Providers(
        stt=stt,
        llm=llm,
        tts=tts,
        vad=vad,
        turn_detection=settings.turn_detection,
        min_endpointing_delay_s=settings.min_endpointing_delay_s,
    )
