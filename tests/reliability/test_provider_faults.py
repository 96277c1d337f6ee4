"""Provider faults, one per kind, each through a real ``AgentSession`` and the reference backend:
the exact lifecycle path the fault turn takes, how the session ends, and what the backend holds.

The paths are written out here on purpose (not read from the trial cases), so that a change to
the table or the controller that alters how a fault is handled fails a test that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit.agents.utils import http_context

from trials.live_session import live_session
from trials.provider_cases import BY_KEY
from trials.provider_trial import TrialRecord, run_trial
from trials.stubs.voice_vendors import vendor_stubs
from trials.support import Backend
from voicefsm.agent import DEFAULT_APOLOGY as APOLOGY
from voicefsm.agent import DEFAULT_FAREWELL as FAREWELL
from voicefsm.lifecycle import EndReason
from voicefsm.providers.real import build_providers
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each

GREETING = ("assistant", "Hello Ada! How can I help you today?", False)
FIRST = ("user", "Is the pool open today", False)
FIRST_REPLY = ("assistant", "Yes, about is the pool open today: we are open until nine.", False)
SECOND = ("user", "And on Sunday", False)
SECOND_REPLY = ("assistant", "Yes, about and on sunday: we are open until nine.", False)
SORRY = ("assistant", APOLOGY, False)
BYE = ("assistant", FAREWELL, False)


async def _trial(key: str, tmp_path: Path, backend: Backend, fault_turn: int = 1) -> TrialRecord:
    record = await run_trial(
        BY_KEY[key],
        backend_url=backend.url,
        database=backend.database,
        workdir=tmp_path / "trial",
        fault_turn=fault_turn,
    )
    # Whatever the fault, every write the spool acknowledged is in the backend exactly once.
    assert record.acknowledged
    assert not record.lost, record.lost
    assert not record.invented, record.invented
    assert record.duplicated == 0
    assert record.exited
    return record


def _from_turn(record: TrialRecord, turn: int = 1) -> list[tuple[str, str, str]]:
    starts = [i for i, step in enumerate(record.trail) if step[1] == "user_turn_completed"]
    return record.trail[starts[turn - 1] :]


# -- faults that take a lifecycle path: the path, and what the backend stored -----------------

TURN = ("listening", "user_turn_completed", "thinking")
RETRIED = [
    TURN,
    ("thinking", "reply_failed", "thinking"),
    ("thinking", "reply_started", "speaking"),
    ("speaking", "reply_finished", "listening"),
]
GAVE_UP = [
    TURN,
    ("thinking", "reply_failed", "thinking"),
    ("thinking", "reply_failed", "listening"),
]
APOLOGISED = [*GAVE_UP, ("listening", "spoke", "listening"), TURN]  # the apology, heard
ENDED = [
    ("listening", "hang_up", "persisting"),
    ("persisting", "spoke", "persisting"),  # the farewell, heard
    ("persisting", "persisted", "exiting"),
]
ALL_HEARD = [GREETING, FIRST, FIRST_REPLY, SECOND, SECOND_REPLY, BYE]
APOLOGY_THEN_ON = [GREETING, FIRST, SORRY, SECOND, SECOND_REPLY, BYE]


@dataclass(frozen=True)
class FaultPath:
    """A trial's fault, and what must come of it: the path from the fault's turn (``trail``,
    the whole rest of the call when ``whole_trail``), the messages the backend stored (the
    first ones, or all of them when ``all_messages``), and how many faults were injected."""

    key: str
    trail: list[tuple[str, str, str]]
    messages: list[tuple[str, str, bool]]
    all_messages: bool = True
    whole_trail: bool = False
    fault_turn: int = 1
    faults: int | None = None


FAULT_PATHS = [
    # A 503 fails the reply at once; the lifecycle retries it and the user hears it.
    FaultPath("llm-error-once", RETRIED, ALL_HEARD),
    FaultPath(
        "llm-error-twice",
        [
            *APOLOGISED,
            ("thinking", "reply_started", "speaking"),
            ("speaking", "reply_finished", "listening"),
            *ENDED,
        ],
        APOLOGY_THEN_ON,
        whole_trail=True,
    ),
    # A fault on a later turn takes the same path.
    FaultPath(
        "llm-error-twice",
        GAVE_UP,
        [GREETING, FIRST, FIRST_REPLY, SECOND],
        all_messages=False,
        fault_turn=2,
    ),
    # Two attempts, each retried once by livekit.
    FaultPath(
        "llm-timeout-always", GAVE_UP, [GREETING, FIRST, SORRY], all_messages=False, faults=4
    ),
    # A provider without a timeout no longer leaves the session in thinking for ever.
    FaultPath("llm-hang", APOLOGISED, APOLOGY_THEN_ON),
    FaultPath("llm-empty", RETRIED, [GREETING, FIRST, FIRST_REPLY], all_messages=False),
    FaultPath("tts-error-once", RETRIED, [GREETING, FIRST, FIRST_REPLY], all_messages=False),
    FaultPath("tts-stall", GAVE_UP, APOLOGY_THEN_ON),
]


@pytest.mark.parametrize(
    "path", FAULT_PATHS, ids=[f"{p.key}-turn{p.fault_turn}" for p in FAULT_PATHS]
)
async def test_a_provider_fault_takes_its_lifecycle_path(
    tmp_path: Path, backend: Backend, path: FaultPath
) -> None:
    record = await _trial(path.key, tmp_path, backend, fault_turn=path.fault_turn)

    trail = _from_turn(record, path.fault_turn)
    assert (trail if path.whole_trail else trail[: len(path.trail)]) == path.trail
    stored = record.stored_messages
    assert (stored if path.all_messages else stored[: len(path.messages)]) == path.messages
    if path.faults is not None:
        assert record.faults == path.faults


# -- LLM ---------------------------------------------------------------------------------------


async def test_llm_connection_reset_is_retried_by_livekit_inside_the_reply(
    tmp_path: Path, backend: Backend
) -> None:
    """A retryable error never reaches the lifecycle: livekit retries the request."""
    record = await _trial("llm-retryable-once", tmp_path, backend)

    assert _from_turn(record)[:3] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_finished", "listening"),
    ]
    assert FIRST_REPLY in record.stored_messages
    assert record.faults == 1


async def test_llm_down_for_good_ends_the_session_as_a_fatal_error(
    tmp_path: Path, backend: Backend
) -> None:
    """Two failed turns get apologies; the third ends the call, everything persisted."""
    record = await _trial("llm-down", tmp_path, backend)

    assert _from_turn(record, 3) == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_failed", "thinking"),
        ("thinking", "reply_failed", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    assert record.end_reason is EndReason.FATAL_ERROR
    assert [text for role, text, _ in record.stored_messages if role == "assistant"] == [
        GREETING[1],
        APOLOGY,
        APOLOGY,
    ]  # no farewell after a fatal error


# -- TTS ---------------------------------------------------------------------------------------


async def test_tts_error_after_audio_keeps_what_was_heard_and_apologises(
    tmp_path: Path, backend: Backend
) -> None:
    """Once audio was heard livekit cannot retry; the reply fails from speaking, cut off."""
    record = await _trial("tts-error-mid", tmp_path, backend)

    assert _from_turn(record)[:5] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_failed", "listening"),
        ("listening", "spoke", "listening"),  # the apology, heard
        ("listening", "user_turn_completed", "thinking"),
    ]
    role, heard, cut = record.stored_messages[2]
    assert (role, cut) == ("assistant", True)
    assert heard
    assert FIRST_REPLY[1].startswith(heard.rstrip(",.:"))
    assert record.stored_messages[3] == SORRY


async def test_tts_stalling_mid_reply_is_cut_off_at_the_audio_stall_deadline(
    tmp_path: Path, backend: Backend
) -> None:
    """A synthesis that stops sending audio no longer leaves the session speaking for ever."""
    record = await _trial("tts-stall-mid", tmp_path, backend)

    assert _from_turn(record)[:3] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_failed", "listening"),
    ]
    assert record.stored_messages[2][::2] == ("assistant", True)  # the part heard, cut off
    assert record.stored_messages[3:] == [SORRY, SECOND, SECOND_REPLY, BYE]


async def test_tts_stalling_on_the_greeting_gives_the_user_the_floor(
    tmp_path: Path, backend: Backend
) -> None:
    record = await _trial("tts-greeting-stall", tmp_path, backend)

    assert record.trail[:4] == [
        ("joining", "joined", "loading_context"),
        ("loading_context", "context_loaded", "greeting"),
        ("greeting", "reply_failed", "listening"),
        ("listening", "user_turn_completed", "thinking"),
    ]
    assert record.stored_messages == [FIRST, FIRST_REPLY, SECOND, SECOND_REPLY, BYE]


async def test_tts_down_for_good_closes_the_session_as_a_fatal_error(
    tmp_path: Path, backend: Backend
) -> None:
    """livekit closes the session after its limit of unrecoverable TTS errors in a row; the
    lifecycle ends it as a fatal error, with everything persisted and no farewell."""
    record = await _trial("tts-down", tmp_path, backend)

    assert _from_turn(record)[:3] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_failed", "thinking"),
        ("thinking", "reply_failed", "listening"),  # the apology fails too
    ]
    # The fourth error closes the session while it is making the second reply, which livekit
    # interrupts as it closes.
    assert _from_turn(record, 2)[-2:] == [
        ("listening", "fatal_error", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    assert record.end_reason is EndReason.FATAL_ERROR
    assert record.stored_messages == [GREETING, FIRST, SECOND]


# -- STT ---------------------------------------------------------------------------------------


async def test_stt_dropping_mid_utterance_reconnects_and_the_rest_is_answered(
    tmp_path: Path, backend: Backend
) -> None:
    record = await _trial("stt-drop", tmp_path, backend)

    assert _from_turn(record)[:3] == [
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_finished", "listening"),
    ]
    # The words recognised before the drop were lost with the connection.
    user = [text for role, text, _ in record.stored_messages if role == "user"]
    assert user[0] != FIRST[1]
    assert FIRST[1].endswith(user[0])
    assert user[1:] == [SECOND[1]]


async def test_stt_down_for_good_ends_the_session_as_a_fatal_error(
    tmp_path: Path, backend: Backend
) -> None:
    record = await _trial("stt-down", tmp_path, backend)

    assert record.trail == [
        ("joining", "joined", "loading_context"),
        ("loading_context", "context_loaded", "greeting"),
        ("greeting", "greeted", "listening"),
        ("listening", "fatal_error", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    assert record.end_reason is EndReason.FATAL_ERROR
    assert record.stored_messages == [GREETING]


# -- the real Deepgram plugin ------------------------------------------------------------------


async def test_deepgram_websocket_dropping_mid_utterance_does_not_end_the_call(
    tmp_path: Path,
) -> None:
    """The real plugin against the stub: the socket drops in the middle of the user's first
    utterance, the plugin reconnects (livekit's retry), and the session goes on."""
    with vendor_stubs() as stubs:
        stubs.drop_listen_after_s = 0.4
        settings = stubs.provider_settings()
        async with http_context.open():
            providers = build_providers(settings)
            async with live_session(tmp_path, providers=providers, announce=stubs.expect) as live:
                await live.converse(
                    [
                        Turn(user="Is the pool open today", pause_ms=100),
                        Turn(user="Thanks a lot", pause_ms=100),
                    ]
                )
                trail = live.trail()
                users = [m.text for m in live.session.record.history if m.role.value == "user"]
                errors = live.session.record.counters.errors

    assert stubs.seen["deepgram.dropped"] == 1
    assert stubs.seen["deepgram.connect"] >= 2  # reconnected
    assert errors["STT"] >= 1  # the drop was seen, recorded and written
    assert len(users) == 2
    assert "Is the pool open today".endswith(users[0])
    assert users[1] == "Thanks a lot"
    assert trail.count(("speaking", "reply_finished", "listening")) == 2
    assert trail[-3:] == [
        ("listening", "hang_up", "persisting"),
        ("persisting", "spoke", "persisting"),  # the farewell, heard
        ("persisting", "persisted", "exiting"),
    ]
