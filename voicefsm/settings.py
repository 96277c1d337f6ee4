"""Every knob voicefsm has, in one place: its default, its environment variable, its unit.

Settings come from the environment (and a ``.env`` file): ``VOICEFSM_<FIELD>`` for each field,
except the vendors' and LiveKit's own names, which are read as those tools document them
(``LIVEKIT_URL``, ``DEEPGRAM_API_KEY``, ``ELEVEN_API_KEY``…). Durations are seconds, in fields
ending in ``_s``. Secrets are ``SecretStr``: they print as ``**********`` in reprs, logs and
errors. Tests and embedders pass overrides: ``load_settings(flush_deadline_s=2.0)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    AnyUrl,
    Field,
    SecretStr,
    UrlConstraints,
    ValidationError,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    SettingsConfigDict,
)

from voicefsm.errors import ConfigurationError


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("voicefsm", appauthor=False))


def default_spool_path() -> Path:
    return default_data_dir() / "outbox.sqlite3"


#: LiveKit's own URL forms: the ws(s):// that its docs and LiveKit Cloud give, or http(s)://.
LiveKitUrl = Annotated[
    AnyUrl, UrlConstraints(allowed_schemes=["ws", "wss", "http", "https"], host_required=True)
]


def _alias(name: str) -> AliasChoices:
    """A variable read under its vendor's own name, and under ours."""
    return AliasChoices(name, f"VOICEFSM_{name}")


class Settings(BaseSettings):
    """Everything voicefsm reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEFSM_", env_file=".env", extra="ignore", frozen=True
    )

    # -- the outbox and the backend ------------------------------------------------------------
    spool_path: Path = Field(default_factory=default_spool_path, description="the outbox spool")
    spool_max_rows: int = Field(100_000, ge=1, description="undelivered writes the spool holds")
    backend_url: AnyHttpUrl | None = Field(None, description="the backend to deliver to")
    backend_token: SecretStr | None = Field(None, description="bearer token for the backend")
    backend_read_timeout_s: float = Field(0.5, gt=0, description="overall deadline of a read")
    backend_write_timeout_s: float = Field(5.0, gt=0, description="deadline of one delivery")

    # -- the reference backend (`voicefsm backend`), per process -------------------------------
    backend_pool_size: int = Field(
        10, ge=1, le=1000, description="the reference backend's database connections"
    )
    backend_max_requests: int = Field(
        32, ge=1, description="API requests the reference backend serves at once"
    )
    backend_queue_wait_s: float = Field(
        1.0, ge=0, description="an API request's wait for its turn (or a connection); 503 after"
    )
    backend_header_timeout_s: float = Field(
        10.0, gt=0, description="a connection's wait for a request's headers; closed after"
    )
    backend_body_timeout_s: float = Field(
        30.0, gt=0, description="a request body's whole arrival; 408 after"
    )
    backend_max_connections: int = Field(
        1000, ge=1, description="open connections (kept below the open-files limit)"
    )

    # -- one session's deadlines and limits ----------------------------------------------------
    history_deadline_s: float = Field(1.0, gt=0, description="recent messages at session start")
    recent_messages: int = Field(20, ge=0, le=500, description="messages loaded on resume")
    context_deadline_s: float = Field(0.15, gt=0, description="context enrichment of a turn")
    context_backoff_s: float = Field(
        30.0, ge=0, description="enrichment skipped this long after one came too late"
    )
    max_reply_attempts: int = Field(2, ge=1, description="tries of a failed reply in one turn")
    max_failed_turns: int = Field(3, ge=1, description="failed turns in a row that end the call")
    reply_start_deadline_s: float = Field(
        8.0, gt=0, description="from starting a reply (or greeting) to its first audio"
    )
    audio_stall_deadline_s: float = Field(
        5.0, gt=0, description="longest silence between two audio frames of one synthesis"
    )
    silence_timeout_s: float = Field(
        30.0, gt=0, description="caller and agent both silent this long ends the call"
    )
    rejoin_grace_s: float = Field(
        5.0, ge=0, le=300, description="a dropped caller may rejoin this long (0: the call ends)"
    )
    returning_callers: Literal["off", "sip_phone", "user_id"] = Field(
        "off",
        description="key the conversation by the caller when the room names none: "
        "sip_phone (sip.phoneNumber) or user_id",
    )
    tool_deadline_s: float = Field(
        20.0, gt=0, description="longest run of one tool call (per tool: @tool_deadline)"
    )
    tool_filler_after_s: float = Field(
        2.0, ge=0, description="a tool running this long gets the agent's filler (0: never)"
    )
    hook_deadline_s: float = Field(
        2.0, gt=0, description="longest run of one agent hook; the summary waits this long"
    )
    farewell_deadline_s: float = Field(4.0, gt=0, description="the goodbye, while persisting")
    flush_deadline_s: float = Field(8.0, gt=0, description="the outbox flush, while persisting")

    # -- providers -----------------------------------------------------------------------------
    deepgram_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("DEEPGRAM_API_KEY"), description="Deepgram STT's key"
    )
    deepgram_base_url: AnyHttpUrl | None = Field(None, description="a self-hosted Deepgram")
    stt_model: str = Field("nova-3", description="Deepgram model")
    stt_language: str = Field("en-US", description="Deepgram language")
    eleven_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("ELEVEN_API_KEY"), description="ElevenLabs TTS's key"
    )
    elevenlabs_base_url: AnyHttpUrl | None = Field(None, description="another ElevenLabs host")
    tts_voice_id: str = Field("hpp4J3VqNfWAUOO0d1Us", description="ElevenLabs voice")
    tts_model: str = Field("eleven_turbo_v2_5", description="ElevenLabs model")
    tts_encoding: str = Field("pcm_24000", description="ElevenLabs audio format")
    llm_model: str = Field(
        "openai/gpt-4.1-mini",
        description="a LiveKit inference model, or the model at VOICEFSM_LLM_BASE_URL",
    )
    llm_base_url: AnyHttpUrl | None = Field(None, description="an OpenAI-compatible endpoint")
    llm_api_key: SecretStr | None = Field(None, description="the key of that endpoint")
    turn_detection: Literal["stt", "vad", "manual"] = Field(
        "stt", description="how a turn's end is found: stt, vad or manual (never guessed)"
    )
    vad: Literal["silero", "none"] = Field("silero", description="voice activity: silero or none")
    min_endpointing_delay_s: float = Field(
        0.5, ge=0, le=5, description="silence before a turn counts as complete"
    )

    hang_up_room: bool = Field(
        True, description="delete the room when the agent ends the call (off: keep it)"
    )

    # -- the worker ----------------------------------------------------------------------------
    drain_timeout_s: float = Field(
        1800.0, gt=0, description="a draining worker's wait for live calls"
    )
    livekit_max_retry: int = Field(16, ge=0, description="connection attempts to LiveKit")
    agent_name: str = Field("", description="explicit dispatch name (empty: automatic)")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus port")
    idle_processes: int | None = Field(
        None, ge=0, le=64, description="warm job processes (unset: livekit's default)"
    )

    # -- LiveKit's server API ------------------------------------------------------------------
    livekit_url: LiveKitUrl | None = Field(
        None,
        validation_alias=_alias("LIVEKIT_URL"),
        description="the LiveKit server (ws(s) or http(s))",
    )
    livekit_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("LIVEKIT_API_KEY"), description="LiveKit API key"
    )
    livekit_api_secret: SecretStr | None = Field(
        None, validation_alias=_alias("LIVEKIT_API_SECRET"), description="LiveKit API secret"
    )

    @property
    def shutdown_budget_s(self) -> float:
        """How long a job may take to end once asked to: farewell, hooks, flush, a margin."""
        return self.farewell_deadline_s + self.hook_deadline_s + self.flush_deadline_s + 1.0

    def livekit_credentials(self) -> tuple[str, SecretStr, SecretStr] | None:
        """URL, key and secret of the LiveKit server API, when all three are set."""
        if self.livekit_url and self.livekit_api_key and self.livekit_api_secret:
            return str(self.livekit_url), self.livekit_api_key, self.livekit_api_secret
        return None


def env_names(field: str) -> list[str]:
    """The environment variables a field is read from, the first found winning."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [f"VOICEFSM_{field.upper()}"]


def env_name(field: str) -> str:
    """The environment variable a field is documented under (its vendor's name when it has one)."""
    return env_names(field)[0]


def _field_of(location: str) -> str | None:
    """The field a validation error's location names: the field itself, or one of its names."""
    if location in Settings.model_fields:
        return location
    for field in Settings.model_fields:
        if location.upper() in env_names(field):
            return field
    return None


def _name_set(field: str) -> str:
    """The variable the user set for ``field`` (a setting with two names is reported under the
    one that was read, never one the user has not written), else its documented name."""
    sources = (EnvSettingsSource(Settings).env_vars, DotEnvSettingsSource(Settings).env_vars)
    for found in sources:
        present = {name.lower() for name in found}
        for name in env_names(field):
            if name.lower() in present:
                return name
    return env_name(field)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise :class:`ConfigurationError` naming each bad variable.

    The error never echoes the rejected value: it may be a secret.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = str(error["loc"][0]) if error["loc"] else "?"
            field = _field_of(location)
            if field is None or field in overrides:
                name = env_name(field) if field else location
            else:
                name = _name_set(field)
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def _llm_fields(settings: Settings) -> list[str]:
    if settings.llm_base_url is None:
        # LiveKit inference authenticates with the LiveKit API key and secret.
        return ["livekit_api_key", "livekit_api_secret"]
    return ["llm_api_key"]


def check_llm(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` naming every variable the configured model lacks."""
    missing = [
        env_name(field) for field in _llm_fields(settings) if getattr(settings, field) is None
    ]
    if missing:
        raise ConfigurationError("missing model settings: " + ", ".join(missing) + " not set")


def check_providers(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` naming every variable the real providers lack."""
    needed = ["deepgram_api_key", "eleven_api_key", *_llm_fields(settings)]
    missing = [env_name(field) for field in needed if getattr(settings, field) is None]
    if missing:
        raise ConfigurationError("missing provider settings: " + ", ".join(missing) + " not set")
    if settings.turn_detection == "vad" and settings.vad == "none":
        msg = "VOICEFSM_TURN_DETECTION=vad needs a VAD: set VOICEFSM_VAD=silero"
        raise ConfigurationError(msg)


def check_worker(settings: Settings) -> tuple[str, str, str]:
    """Fail fast, naming everything missing, before livekit starts (it would exit 0 on it).

    Returns the LiveKit URL, key and secret.
    """
    credentials = settings.livekit_credentials()
    if credentials is None:
        missing = [
            env_name(field)
            for field in ("livekit_url", "livekit_api_key", "livekit_api_secret")
            if getattr(settings, field) is None
        ]
        raise ConfigurationError("missing worker settings: " + ", ".join(missing) + " not set")
    check_providers(settings)
    url, key, secret = credentials
    return url, key.get_secret_value(), secret.get_secret_value()


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        return "`<user data dir>/voicefsm/outbox.sqlite3`" if name == "spool_path" else "computed"
    value = field.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_table() -> str:
    """Every setting as a Markdown table (variable, default, meaning): what the README shows,
    checked against this code by a test."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        unit = " (seconds)" if name.endswith("_s") else ""
        meaning = (field.description or name.replace("_", " ")) + unit
        rows.append(f"| `{env_name(name)}` | {_default(name)} | {meaning} |")
    return "\n".join(rows) + "\n"
