"""What a worker needs before it starts: every missing setting named at once, in one message.

``voicefsm start`` used to name LiveKit's missing variables first and the providers' only on
the next try; ``python -m livekit.agents start`` logged the providers' and then crashed inside
livekit. Both now tell everything in one line, from :func:`worker_problems`.
"""

from __future__ import annotations

from voicefsm.errors import ConfigurationError
from voicefsm.settings.model import Settings
from voicefsm.settings.names import env_name

_LIVEKIT = ("livekit_url", "livekit_api_key", "livekit_api_secret")


def _llm_fields(settings: Settings) -> list[str]:
    if settings.llm_base_url is None:
        # LiveKit inference authenticates with the LiveKit API key and secret.
        return ["livekit_api_key", "livekit_api_secret"]
    return ["llm_api_key"]


def _provider_fields(settings: Settings) -> list[str]:
    needed = ["deepgram_api_key", "eleven_api_key", *_llm_fields(settings)]
    if settings.turn_detection == "model" and settings.turn_detector_model == "v1":
        needed += ["livekit_api_key", "livekit_api_secret"]  # LiveKit Cloud inference
    return needed


def missing(settings: Settings, fields: list[str]) -> list[str]:
    """The variables of ``fields`` that are not set, each once, in order."""
    names = [env_name(field) for field in fields if getattr(settings, field) is None]
    return list(dict.fromkeys(names))


def _vad_problems(settings: Settings) -> list[str]:
    if settings.turn_detection in ("vad", "model") and settings.vad == "none":
        return [
            f"VOICEFSM_TURN_DETECTION={settings.turn_detection} needs a VAD: "
            "set VOICEFSM_VAD=silero"
        ]
    return []


def provider_problems(settings: Settings) -> list[str]:
    """What the real providers lack: missing keys, and a turn detection without its VAD."""
    absent = missing(settings, _provider_fields(settings))
    return ([", ".join(absent) + " not set"] if absent else []) + _vad_problems(settings)


def worker_problems(settings: Settings, invalid: list[str] | None = None) -> list[str]:
    """Everything that stops a registered worker from starting: ``invalid`` settings (lines
    from :func:`~voicefsm.settings.read_settings`), then every missing variable, LiveKit's and
    the providers' together."""
    problems = list(invalid or [])
    named = {line.split(":", 1)[0].removeprefix("invalid ") for line in problems}
    absent = [
        name
        for name in missing(settings, [*_LIVEKIT, *_provider_fields(settings)])
        if name not in named  # an invalid value stood in for by the default: said above
    ]
    if absent:
        problems.append(", ".join(absent) + " not set")
    return problems + _vad_problems(settings)


def check_llm(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` naming every variable the configured model lacks
    (``simulate --llm live``: the model alone, no speech providers)."""
    absent = missing(settings, _llm_fields(settings))
    if absent:
        raise ConfigurationError("missing model settings: " + ", ".join(absent) + " not set")


def check_providers(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` naming every variable the real providers lack."""
    problems = provider_problems(settings)
    if problems:
        raise ConfigurationError("provider settings: " + "; ".join(problems))


def check_worker(settings: Settings) -> tuple[str, str, str]:
    """Raise :class:`ConfigurationError` naming everything a worker lacks, in one message;
    returns the LiveKit URL, key and secret."""
    problems = worker_problems(settings)
    credentials = settings.livekit_credentials()
    if problems or credentials is None:
        raise ConfigurationError("cannot start the worker: " + "; ".join(problems))
    url, key, secret = credentials
    return url, key.get_secret_value(), secret.get_secret_value()
