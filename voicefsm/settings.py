"""Settings from the environment (and a ``.env`` file): ``VOICEFSM_*`` plus LiveKit's own names.

Secrets are ``SecretStr``: they print as ``**********`` in reprs, logs and errors.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicefsm.errors import ConfigurationError


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("voicefsm", appauthor=False))


def default_spool_path() -> Path:
    return default_data_dir() / "outbox.sqlite3"


class Settings(BaseSettings):
    """Everything voicefsm reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEFSM_", env_file=".env", extra="ignore", frozen=True
    )

    spool_path: Path = Field(default_factory=default_spool_path)
    spool_max_rows: int = Field(100_000, ge=1)
    backend_url: AnyHttpUrl | None = None
    backend_token: SecretStr | None = None
    # Reads on the way into a turn (recent messages, context) must not hold the call up.
    backend_read_timeout_s: float = Field(0.5, gt=0)
    backend_write_timeout_s: float = Field(5.0, gt=0)
    flush_deadline_s: float = Field(8.0, gt=0)
    # The user and the agent both silent this long ends the session (livekit's "away").
    silence_timeout_s: float = Field(30.0, gt=0)

    # Worker: how long a draining worker waits for live calls (keep it under the orchestrator's
    # grace period minus the flush deadline), and how often it retries connecting to LiveKit.
    drain_timeout_s: float = Field(1800.0, gt=0)
    livekit_max_retry: int = Field(16, ge=0)
    agent_name: str = ""
    #: Serve Prometheus metrics on this port (the worker's metrics endpoint); unset: off.
    metrics_port: int | None = Field(None, ge=1, le=65535)

    livekit_url: AnyHttpUrl | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_URL", "VOICEFSM_LIVEKIT_URL")
    )
    livekit_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_KEY", "VOICEFSM_LIVEKIT_API_KEY")
    )
    livekit_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_SECRET", "VOICEFSM_LIVEKIT_API_SECRET")
    )

    def livekit_credentials(self) -> tuple[str, SecretStr, SecretStr] | None:
        """URL, key and secret of the LiveKit server API, when all three are set."""
        if self.livekit_url and self.livekit_api_key and self.livekit_api_secret:
            return str(self.livekit_url), self.livekit_api_key, self.livekit_api_secret
        return None


_ENV_NAMES = {
    "livekit_url": "LIVEKIT_URL",
    "livekit_api_key": "LIVEKIT_API_KEY",
    "livekit_api_secret": "LIVEKIT_API_SECRET",
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise :class:`ConfigurationError` naming each bad variable.

    The error never echoes the rejected value: it may be a secret.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = _ENV_NAMES.get(field, f"VOICEFSM_{field.upper()}")
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None
