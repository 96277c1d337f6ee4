"""Reading the settings: every bad variable named in one message, the value never echoed."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from voicefsm.errors import ConfigurationError
from voicefsm.settings.model import Settings
from voicefsm.settings.names import env_name, env_names, warn_unknown_names

DOTENV = Path(".env")


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


def check_dotenv(path: Path = DOTENV) -> None:
    """Raise :class:`ConfigurationError` when ``path`` exists but cannot be read as UTF-8 text
    (it would otherwise be a ``UnicodeDecodeError`` traceback in every command)."""
    if not path.exists() or path.is_dir():
        return
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        msg = f"{path.absolute()}: settings file is not UTF-8 text ({where})"
        raise ConfigurationError(msg) from None
    except OSError as exc:
        msg = f"{path.absolute()}: settings file cannot be read ({exc.strerror or exc})"
        raise ConfigurationError(msg) from None


def read_settings(**overrides: object) -> tuple[Settings, list[str]]:
    """The settings, and one line per problem (``invalid NAME: why``, a ``.env`` that cannot
    be read). An invalid variable is replaced by its default (an unreadable ``.env`` is left
    out), so that what else is missing can be told in the same breath.

    The lines never echo a rejected value: it may be a secret.
    """
    problems: list[str] = []
    try:
        check_dotenv()
    except ConfigurationError as exc:
        problems.append(str(exc))
        overrides = {**overrides, "_env_file": None}  # read the environment alone
    else:
        warn_unknown_names(DOTENV)
    try:
        return Settings(**overrides), problems  # type: ignore[arg-type]
    except ValidationError as exc:
        defaults: dict[str, object] = {}
        for error in exc.errors(include_input=False, include_url=False):
            location = str(error["loc"][0]) if error["loc"] else "?"
            field = _field_of(location)
            if field is None or field in overrides:
                name = env_name(field) if field else location
            else:
                name = _name_set(field)
            problems.append(f"invalid {name}: {error['msg']}")
            if field is not None:
                info = Settings.model_fields[field]
                defaults[field] = info.get_default(call_default_factory=True, validated_data={})
    try:
        fallback = Settings(**{**overrides, **defaults})  # type: ignore[arg-type]
    except ValidationError:  # an override itself is invalid: nothing to fall back on
        raise ConfigurationError("; ".join(problems)) from None
    return fallback, problems


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise :class:`ConfigurationError` naming each bad variable.

    The error never echoes the rejected value: it may be a secret.
    """
    settings, problems = read_settings(**overrides)
    if problems:
        raise ConfigurationError("; ".join(problems))
    return settings
