"""livekit's latency figures for each reply, kept by turn and told to whoever listens (the
Prometheus histograms, the simulator's report)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from livekit.agents.voice import SpeechHandle

from voicefsm.engine.speech import assistant_message


@dataclass(frozen=True, slots=True)
class TurnLatency:
    """livekit's per-turn figures for one reply (from ``ChatMessage.metrics``)."""

    turn: int
    e2e_latency_s: float | None = None
    llm_ttft_s: float | None = None
    tts_ttfb_s: float | None = None


class TurnLatencies:
    """Each reply's figures, by turn; listeners are told each as it comes."""

    def __init__(self) -> None:
        self.by_turn: dict[int, TurnLatency] = {}
        self._listeners: list[Callable[[TurnLatency], None]] = []

    def subscribe(self, listener: Callable[[TurnLatency], None]) -> None:
        self._listeners.append(listener)

    def reply_finished(self, handle: SpeechHandle, turn: int) -> None:
        """livekit's figures for a reply, from the reply's own message (greetings, apologies
        and farewells are speeches too, but not replies: they are never reported here)."""
        message = assistant_message(handle)
        metrics = (message.metrics if message is not None else None) or {}
        if not metrics:
            return
        latency = TurnLatency(
            turn,
            e2e_latency_s=metrics.get("e2e_latency"),
            llm_ttft_s=metrics.get("llm_node_ttft"),
            tts_ttfb_s=metrics.get("tts_node_ttfb"),
        )
        self.by_turn[turn] = latency
        for listener in self._listeners:
            listener(latency)
