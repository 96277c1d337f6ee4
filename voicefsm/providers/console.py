"""The providers of livekit's console: the real ones whose keys are set, text-only otherwise.

livekit's console runs a session with whatever it has: in text mode (the ``lk`` CLI turning
audio off, the old console's ``--text``) a session needs neither an STT nor a TTS, and livekit
decides the mode only once the console is connected, after the session is built. So the console
never asks for provider keys: a missing STT key means no speech input (typed lines only, turns
committed by hand), a missing TTS key no speech output (text replies), and no LLM settings the
scripted model (it answers "Thanks, I heard: ..."), each said once in the log.
"""

from __future__ import annotations

import logging

from livekit.agents import TurnHandlingOptions, inference

from voicefsm.providers import Providers
from voicefsm.providers.scripted import ScriptedLLM
from voicefsm.providers.turns import merged, turn_handling
from voicefsm.settings import Settings, env_name
from voicefsm.settings.checks import missing

_LOG = logging.getLogger("voicefsm.worker")


def llm_configured(settings: Settings) -> bool:
    if settings.llm_base_url is not None:
        return settings.llm_api_key is not None
    return settings.livekit_api_key is not None and settings.livekit_api_secret is not None


def stand_ins(settings: Settings) -> list[str]:
    """What the console does without, one line each (empty when every key is set)."""
    lines = []
    if settings.deepgram_api_key is None:
        lines.append(f"no speech input ({env_name('deepgram_api_key')} not set): typed turns")
    if settings.eleven_api_key is None:
        lines.append(f"no speech output ({env_name('eleven_api_key')} not set): text replies")
    if not llm_configured(settings):
        fields = (
            ["llm_api_key"] if settings.llm_base_url else ["livekit_api_key", "livekit_api_secret"]
        )
        names = ", ".join(missing(settings, fields))
        lines.append(f"the scripted LLM answers ({names} not set)")
    return lines


def console_providers(settings: Settings, turns: TurnHandlingOptions | None = None) -> Providers:
    """The real providers whose settings are complete; text-only or scripted stand-ins for the
    rest (see the module docstring)."""
    # Here, not at the top: the start-up checks import this module, and a simulation, which
    # needs no vendor, should not pay the plugins' seconds of imports.
    from voicefsm.providers.real import build_llm, build_stt, build_tts  # noqa: PLC0415

    has_stt = settings.deepgram_api_key is not None
    detection = settings.turn_detection if has_stt else "manual"
    return Providers(
        stt=build_stt(settings) if has_stt else None,
        llm=build_llm(settings) if llm_configured(settings) else ScriptedLLM(),
        tts=build_tts(settings) if settings.eleven_api_key is not None else None,
        vad=inference.VAD(model="silero") if settings.vad == "silero" else None,
        # Without an STT a turn ends when a line is typed.
        turn_detection=detection,
        min_endpointing_delay_s=settings.min_endpointing_delay_s,
        turn_handling=merged(turn_handling(settings), turns, {"turn_detection": detection}),
    )
