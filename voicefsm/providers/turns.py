"""livekit's turn handling, reachable: the turn-detector model, interruptions and preemptive
generation, from settings or from ``build_server(..., turn_handling=...)``.

voicefsm's defaults stay what they were: the turn ends on the STT's endpoint (``stt``),
interruptions as livekit has them, preemptive generation **off**. Preemptive generation is off
because the lifecycle decides when the agent replies: each completed turn is taken from livekit
(``StopResponse`` in ``on_user_turn_completed``) and answered by the lifecycle's own
``generate_reply``, after the turn is recorded and enriched. livekit 1.8.9 adopts a preemptive
reply only when its own automatic reply goes ahead, which the lifecycle stops; so with it on,
livekit starts an LLM request as the caller stops speaking, parks it, and drops it when the
lifecycle answers: every turn costs one more LLM request and saves no time. Turn it on only for
an agent whose ``llm_node`` makes that worth it, or to measure it.

The turn-detector model is livekit's own ``inference.TurnDetector``: ``v1-mini`` runs in the
process from the weights livekit ships (livekit-local-inference; no download, ~0.2 s to load);
``v1`` is LiveKit Cloud's, over the network with the LiveKit key. The older
``livekit-plugins-turn-detector`` is deprecated by livekit and downloads its weights from the
Hugging Face hub, so voicefsm does not use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from livekit.agents import TurnHandlingOptions, inference

from voicefsm.settings import Settings

#: The sections of livekit's ``TurnHandlingOptions`` that are dictionaries of their own.
_SECTIONS = ("endpointing", "interruption", "preemptive_generation", "user_turn_limit")


def turn_handling(settings: Settings) -> TurnHandlingOptions:
    """livekit's turn handling options as the settings say."""
    detection: Any = settings.turn_detection
    if detection == "model":
        detection = inference.TurnDetector(version=settings.turn_detector_model)
    return cast(
        "TurnHandlingOptions",
        {
            "turn_detection": detection,
            "endpointing": {"min_delay": settings.min_endpointing_delay_s},
            "interruption": {
                "enabled": settings.allow_interruptions,
                "min_duration": settings.min_interruption_duration_s,
                "min_words": settings.min_interruption_words,
            },
            "preemptive_generation": {"enabled": settings.preemptive_generation},
        },
    )


def merged(base: Mapping[str, Any], *overrides: Mapping[str, Any] | None) -> TurnHandlingOptions:
    """``base`` with each of ``overrides`` laid over it in turn, section by section (an
    override's ``{"interruption": {"min_words": 2}}`` keeps the other interruption options)."""
    result: dict[str, Any] = {key: _copy(value) for key, value in base.items()}
    for override in overrides:
        for key, value in (override or {}).items():
            if key in _SECTIONS and isinstance(value, Mapping):
                result[key] = {**result.get(key, {}), **value}
            else:
                result[key] = value
    return cast("TurnHandlingOptions", result)


def _copy(value: Any) -> Any:  # noqa: ANN401
    return dict(value) if isinstance(value, Mapping) else value
