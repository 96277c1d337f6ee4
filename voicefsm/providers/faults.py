"""Provider faults the scripted providers can play, each the way a network provider shows it.

Each kind is raised (or hung) *inside* the provider's stream, where a real plugin fails, so
livekit's own machinery (retries per ``conn_options``, ``error`` events, the session's tolerance
of unrecoverable errors) handles it exactly as it would handle Deepgram, ElevenLabs or an LLM API:

* a *retryable* error is retried by livekit within the same request (``max_retry`` times);
* a *non-retryable* one fails the request at once (an unrecoverable ``error`` event); livekit
  closes the session after ``max_unrecoverable_errors`` of those in a row;
* a *timeout* is what a plugin raises when no answer came within ``conn_options.timeout``;
* a *hang* is a provider that never answers and never times out: only the session's own
  deadlines (:class:`voicefsm.agent.controller.SessionOptions`) can get the call out of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from enum import StrEnum
from typing import Generic, TypeVar

from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError

FaultT = TypeVar("FaultT", bound=StrEnum)


class LLMFault(StrEnum):
    """How one LLM request goes wrong."""

    ERROR = "error"  # a 503, not retryable: the request fails at once
    RETRYABLE_ERROR = "retryable_error"  # a dropped connection: livekit retries the request
    TIMEOUT = "timeout"  # no first token within conn_options.timeout: the plugin gives up
    HANG = "hang"  # no first token, ever (a provider without a deadline)
    EMPTY = "empty"  # a well-formed stream with no content


class TTSFault(StrEnum):
    """How one synthesis goes wrong."""

    ERROR = "error"  # before any audio, not retryable
    RETRYABLE_ERROR = "retryable_error"  # before any audio, retryable: livekit synthesises again
    ERROR_MID = "error_mid"  # after the first audio: what was heard cannot be retried
    STALL = "stall"  # no audio at all, and the stream never ends
    STALL_MID = "stall_mid"  # the first audio, then nothing, and the stream never ends


class STTFault(StrEnum):
    """How the speech-to-text connection goes wrong."""

    DROP = "drop"  # the websocket drops mid-utterance (retryable): livekit reconnects
    DOWN = "down"  # every connection fails, not retryable: the STT is gone for good


class FaultPlan(Generic[FaultT]):
    """Faults waiting to be played, in order, plus an optional fault that never runs out."""

    def __init__(self) -> None:
        self._queued: deque[FaultT] = deque()
        #: Played by every request once the queue is empty (a provider down for good).
        self.always: FaultT | None = None
        #: Every fault played so far, in order (what the trials count).
        self.played: list[FaultT] = []

    def add(self, faults: Iterable[FaultT]) -> None:
        self._queued.extend(faults)

    def peek(self) -> FaultT | None:
        return self._queued[0] if self._queued else self.always

    def take(self) -> FaultT | None:
        fault = self._queued.popleft() if self._queued else self.always
        if fault is not None:
            self.played.append(fault)
        return fault

    def __len__(self) -> int:
        return len(self._queued)


async def hang() -> None:
    """Wait forever (until cancelled), like a request nobody answers."""
    await asyncio.Event().wait()


async def llm_fault_before_first_token(fault: LLMFault, timeout_s: float) -> None:
    """Play ``fault`` where an LLM request fails: before its first token. ``EMPTY`` passes."""
    if fault is LLMFault.ERROR:
        raise APIStatusError("scripted LLM outage", status_code=503, retryable=False)
    if fault is LLMFault.RETRYABLE_ERROR:
        raise APIConnectionError("scripted LLM connection reset", retryable=True)
    if fault is LLMFault.TIMEOUT:
        # A real plugin's HTTP client gives up after conn_options.timeout.
        await asyncio.sleep(timeout_s)
        raise APITimeoutError("scripted LLM timed out", retryable=True)
    if fault is LLMFault.HANG:
        await hang()


def tts_error(fault: TTSFault) -> APIConnectionError:
    retryable = fault is TTSFault.RETRYABLE_ERROR
    return APIConnectionError("scripted TTS failure", retryable=retryable)
