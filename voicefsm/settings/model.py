"""The settings model: every knob voicefsm has, its default, its variable, its bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, AnyHttpUrl, AnyUrl, Field, SecretStr, UrlConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicefsm.settings.durations import Span, duration


def default_data_dir() -> Path:
    """The platform's data directory for voicefsm (``$XDG_DATA_HOME/voicefsm`` on Linux)."""
    return Path(platformdirs.user_data_dir("voicefsm", appauthor=False))


def _spool_in(data: dict[str, Any]) -> Path:
    directory = data.get("data_dir")
    return (directory if isinstance(directory, Path) else default_data_dir()) / "outbox.sqlite3"


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
        env_prefix="VOICEFSM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # -- files ---------------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="voicefsm's own files: the spool, the reference backend's and simulate's "
        "databases (created 0700)",
    )
    spool_path: Path = Field(default_factory=_spool_in, description="the outbox spool")
    spool_max_rows: int = Field(100_000, ge=1, description="undelivered writes the spool holds")

    # -- the outbox and the backend ------------------------------------------------------------
    backend_url: AnyHttpUrl | None = Field(None, description="the backend to deliver to")
    backend_token: SecretStr | None = Field(None, description="bearer token for the backend")
    backend_read_timeout_s: float = duration(0.5, "overall deadline of a read", Span.TURN)
    backend_write_timeout_s: float = duration(5.0, "deadline of one delivery", Span.TASK)

    # -- the reference backend (`voicefsm backend`), per process -------------------------------
    backend_pool_size: int = Field(
        10, ge=1, le=1000, description="the reference backend's database connections"
    )
    backend_max_requests: int = Field(
        32, ge=1, description="API requests the reference backend serves at once"
    )
    backend_queue_wait_s: float = duration(
        1.0,
        "an API request's wait for its turn (or a connection); 503 after (0: at once)",
        Span.TURN,
        off=True,
    )
    backend_header_timeout_s: float = duration(
        10.0, "a connection's wait for a request's headers; closed after", Span.TASK
    )
    backend_body_timeout_s: float = duration(
        30.0, "a request body's whole arrival; 408 after", Span.TASK
    )
    backend_max_connections: int = Field(
        1000, ge=1, description="open connections (kept below the open-files limit)"
    )
    backend_caller_key_secret: SecretStr | None = Field(
        None,
        min_length=16,
        description="the reference backend's key for returning callers' digests (HMAC-SHA256; "
        "at least 16 characters; unset: returning callers are refused)",
    )

    # -- one session's deadlines and limits ----------------------------------------------------
    history_deadline_s: float = duration(1.0, "recent messages at session start", Span.TURN)
    recent_messages: int = Field(20, ge=0, le=500, description="messages loaded on resume")
    context_deadline_s: float = duration(0.15, "context enrichment of a turn", Span.TURN)
    context_backoff_s: float = duration(
        30.0, "enrichment skipped this long after one came too late (0: never)", Span.CALL, off=True
    )
    max_reply_attempts: int = Field(2, ge=1, description="tries of a failed reply in one turn")
    max_failed_turns: int = Field(3, ge=1, description="failed turns in a row that end the call")
    reply_start_deadline_s: float = duration(
        8.0, "from starting a reply (or greeting) to its first audio", Span.TURN
    )
    audio_stall_deadline_s: float = duration(
        5.0, "longest silence between two audio frames of one synthesis", Span.TURN
    )
    silence_timeout_s: float = duration(
        30.0, "caller and agent both silent this long ends the call", Span.CALL
    )
    rejoin_grace_s: float = duration(
        5.0,
        "a dropped caller may rejoin this long (0: the call ends)",
        Span.CALL,
        off=True,
        limit=300,
    )
    returning_callers: Literal["off", "sip_phone", "user_id"] = Field(
        "off",
        description="key the conversation by the caller when the room names none: "
        "sip_phone (sip.phoneNumber) or user_id",
    )
    caller_lease_s: float = duration(
        60.0,
        "a live call holds its returning caller's conversation this long, renewed every third "
        "of it; a crashed call's hold ends after it",
        Span.TASK,
    )
    tool_deadline_s: float = duration(
        20.0, "longest run of one tool call (per tool: @tool_deadline)", Span.TASK
    )
    tool_filler_after_s: float = duration(
        2.0, "a tool running this long gets the agent's filler (0: never)", Span.TURN, off=True
    )
    hook_deadline_s: float = duration(
        2.0, "longest run of one agent hook; the summary waits this long", Span.TURN
    )
    farewell_deadline_s: float = duration(4.0, "the goodbye, while persisting", Span.TURN)
    flush_deadline_s: float = duration(8.0, "the outbox flush, while persisting", Span.TASK)

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

    # -- turns: livekit's turn handling --------------------------------------------------------
    turn_detection: Literal["stt", "vad", "manual", "model"] = Field(
        "stt",
        description="how a turn's end is found: stt, vad, manual, or model (livekit's "
        "turn-detector model; needs a VAD) (never guessed)",
    )
    turn_detector_model: Literal["v1-mini", "v1"] = Field(
        "v1-mini",
        description="with turn_detection=model: v1-mini (runs locally, shipped with livekit) "
        "or v1 (LiveKit Cloud inference, with the LiveKit key)",
    )
    vad: Literal["silero", "none"] = Field("silero", description="voice activity: silero or none")
    min_endpointing_delay_s: float = duration(
        0.5, "silence before a turn counts as complete", Span.TURN, off=True, limit=5
    )
    allow_interruptions: bool = Field(True, description="the caller may talk over the agent")
    min_interruption_duration_s: float = duration(
        0.5, "speech this long interrupts the agent", Span.TURN, off=True, limit=5
    )
    min_interruption_words: int = Field(
        0, ge=0, le=50, description="words (heard by the STT) that interrupt the agent (0: any)"
    )
    preemptive_generation: bool = Field(
        False,
        description="livekit starts a reply before the turn is confirmed (off: the lifecycle "
        "decides when to reply; see Turns in the README)",
    )

    hang_up_room: bool = Field(
        True, description="delete the room when the agent ends the call (off: keep it)"
    )

    # -- the worker ----------------------------------------------------------------------------
    drain_timeout_s: float = duration(1800.0, "a draining worker's wait for live calls", Span.DRAIN)
    livekit_max_retry: int = Field(16, ge=0, description="connection attempts to LiveKit")
    agent_name: str = Field("", description="explicit dispatch name (empty: automatic)")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus port")
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="the worker's HTTP health port (unset: livekit's, 8081 for start; 0: any free)",
    )
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
