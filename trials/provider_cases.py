"""Each provider fault the trials inject, and the lifecycle path it must take.

A case names the faults (played by the scripted providers, inside their streams, so livekit
handles them as it would a real vendor's) and the transitions the turn they hit must go through,
in order, from the user's turn (or, for the greeting, from ``greeting``) onwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicefsm.lifecycle import EndReason
from voicefsm.providers.faults import LLMFault, STTFault, TTSFault

Step = tuple[str, str, str]

TURN = ("listening", "user_turn_completed", "thinking")
RETRY = ("thinking", "reply_failed", "thinking")
GIVE_UP = ("thinking", "reply_failed", "listening")  # with an apology
STARTED = ("thinking", "reply_started", "speaking")
FINISHED = ("speaking", "reply_finished", "listening")
CUT_OFF = ("speaking", "reply_failed", "listening")  # with an apology
APOLOGY_HEARD = ("listening", "spoke", "listening")  # the apology, once heard, is recorded
FAREWELL_HEARD = ("persisting", "spoke", "persisting")
PERSISTED = ("persisting", "persisted", "exiting")

ANSWERED = (TURN, STARTED, FINISHED)
RETRIED_THEN_ANSWERED = (TURN, RETRY, STARTED, FINISHED)
APOLOGISED = (TURN, RETRY, GIVE_UP, APOLOGY_HEARD)


@dataclass(frozen=True)
class FaultCase:
    key: str
    provider: str  # "LLM", "TTS" or "STT": the trial group it counts in
    what: str
    path: tuple[Step, ...]
    #: Faults for the requests answering the faulted turn (livekit's retries included).
    llm: tuple[LLMFault, ...] = ()
    llm_down: LLMFault | None = None  # from the faulted turn on, every request
    #: Faults for the next synthesis attempts, queued just before the faulted turn.
    tts: tuple[TTSFault, ...] = ()
    tts_down: TTSFault | None = None
    greeting_tts: tuple[TTSFault, ...] = ()  # queued before the session starts
    stt: tuple[STTFault, ...] = ()
    stt_down: bool = False
    end: EndReason = EndReason.HANG_UP
    apologies: int = 0  # apologies played in full (and persisted)
    #: The faulted turn's reply was heard in full in the end.
    answered: bool = True
    #: Part of the faulted turn's reply was heard, then cut off by the fault.
    cut_off: bool = False
    turns: int = 2
    #: The turns the fault may hit with this path still the right one.
    fault_turns: tuple[int, ...] = (1, 2)

    @property
    def fatal(self) -> bool:
        return self.end is EndReason.FATAL_ERROR


_E, _R, _T, _H, _EMPTY = (
    LLMFault.ERROR,
    LLMFault.RETRYABLE_ERROR,
    LLMFault.TIMEOUT,
    LLMFault.HANG,
    LLMFault.EMPTY,
)

CASES: tuple[FaultCase, ...] = (
    # -- LLM ----------------------------------------------------------------------------------
    FaultCase("llm-error-once", "LLM", "LLM 503 once", RETRIED_THEN_ANSWERED, llm=(_E,)),
    FaultCase(
        "llm-error-twice",
        "LLM",
        "LLM 503 on both attempts",
        APOLOGISED,
        llm=(_E, _E),
        apologies=1,
        answered=False,
    ),
    FaultCase(
        "llm-retryable-once",
        "LLM",
        "LLM connection reset once (livekit retries the request)",
        ANSWERED,
        llm=(_R,),
    ),
    FaultCase(
        "llm-timeout-once",
        "LLM",
        "LLM times out once (livekit retries the request)",
        ANSWERED,
        llm=(_T,),
    ),
    FaultCase(
        "llm-timeout-always",
        "LLM",
        "LLM times out on every retry of both attempts",
        APOLOGISED,
        llm=(_T,) * 4,
        apologies=1,
        answered=False,
    ),
    FaultCase(
        "llm-hang",
        "LLM",
        "LLM never answers and never times out (reply start deadline)",
        APOLOGISED,
        llm=(_H, _H),
        apologies=1,
        answered=False,
    ),
    FaultCase("llm-empty", "LLM", "LLM returns nothing once", RETRIED_THEN_ANSWERED, llm=(_EMPTY,)),
    FaultCase(
        "llm-down",
        "LLM",
        "LLM down for good: two apologies, then the session ends",
        (
            *APOLOGISED,
            *APOLOGISED,
            TURN,
            RETRY,
            ("thinking", "reply_failed", "persisting"),
            PERSISTED,
        ),
        llm_down=_E,
        end=EndReason.FATAL_ERROR,
        apologies=2,
        answered=False,
        turns=3,
        fault_turns=(1,),
    ),
    # -- TTS ----------------------------------------------------------------------------------
    FaultCase(
        "tts-retryable-once",
        "TTS",
        "TTS connection reset before audio (livekit retries the synthesis)",
        ANSWERED,
        tts=(TTSFault.RETRYABLE_ERROR,),
    ),
    FaultCase(
        "tts-error-once",
        "TTS",
        "TTS error before audio, not retryable",
        RETRIED_THEN_ANSWERED,
        tts=(TTSFault.ERROR,),
    ),
    FaultCase(
        "tts-error-mid",
        "TTS",
        "TTS error after the first audio was heard",
        (TURN, STARTED, CUT_OFF, APOLOGY_HEARD),
        tts=(TTSFault.ERROR_MID,),
        apologies=1,
        answered=False,
        cut_off=True,
    ),
    FaultCase(
        "tts-stall",
        "TTS",
        "TTS produces no audio, ever (reply start deadline)",
        APOLOGISED,
        tts=(TTSFault.STALL, TTSFault.STALL),
        apologies=1,
        answered=False,
    ),
    FaultCase(
        "tts-stall-mid",
        "TTS",
        "TTS stalls after the first audio (audio stall deadline)",
        (TURN, STARTED, CUT_OFF, APOLOGY_HEARD),
        tts=(TTSFault.STALL_MID,),
        apologies=1,
        answered=False,
        cut_off=True,
    ),
    FaultCase(
        "tts-greeting-stall",
        "TTS",
        "TTS stalls on the greeting: the user gets the floor",
        (("greeting", "reply_failed", "listening"), *ANSWERED),
        greeting_tts=(TTSFault.STALL,),
        fault_turns=(1,),
    ),
    FaultCase(
        "tts-down",
        "TTS",
        "TTS down for good: livekit closes the session, which ends as a fatal error",
        (TURN, RETRY, GIVE_UP, TURN),
        tts_down=TTSFault.ERROR,
        end=EndReason.FATAL_ERROR,
        answered=False,
        fault_turns=(1,),
    ),
    # -- STT ----------------------------------------------------------------------------------
    FaultCase(
        "stt-drop",
        "STT",
        "STT websocket drops mid-utterance: livekit reconnects, the rest is heard",
        ANSWERED,
        stt=(STTFault.DROP,),
    ),
    FaultCase(
        "stt-down",
        "STT",
        "STT down for good: livekit closes the session, which ends as a fatal error",
        (("listening", "fatal_error", "persisting"), PERSISTED),
        stt_down=True,
        end=EndReason.FATAL_ERROR,
        answered=False,
    ),
)

BY_KEY = {case.key: case for case in CASES}
