"""What a session does, told as conversations through the lifecycle with recording effects."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from tests.lifecycle.walk import reach
from voicefsm.lifecycle import (
    CallerDropped,
    ContextLoaded,
    EndCall,
    EndReason,
    FatalError,
    Greeted,
    HangUp,
    Interrupted,
    Joined,
    Lifecycle,
    Outcome,
    ParticipantLeft,
    Persisted,
    ReplyFailed,
    ReplyFinished,
    ReplyStarted,
    Resumed,
    SilenceTimeout,
    State,
    Trigger,
    TriggerData,
    UserTurnCompleted,
    Utterance,
)
from voicefsm.testing import EffectCall, RecordingEffects


def _started() -> tuple[Lifecycle, RecordingEffects]:
    """A new conversation, greeted, now listening at turn 0."""
    lifecycle, effects = reach(State.GREETING)
    lifecycle.fire(Greeted(turn=0, spoken="Hello Ada!"))
    return lifecycle, effects


def test_a_whole_conversation_calls_effects_in_order() -> None:
    """Greeting, one turn, hang-up: each effect once, in the order the lifecycle promises."""
    effects = RecordingEffects()
    lifecycle = Lifecycle(effects)
    for trigger, data in [
        (Trigger.JOINED, {}),
        (Trigger.CONTEXT_LOADED, {}),
        (Trigger.GREETED, {"turn": 0, "spoken": "Hello Ada!"}),
        (Trigger.USER_TURN_COMPLETED, {"text": "Book a table"}),
        (Trigger.REPLY_STARTED, {"turn": 1}),
        (Trigger.REPLY_FINISHED, {"turn": 1, "spoken": "For how many?"}),
        (Trigger.HANG_UP, {}),
        (Trigger.PERSISTED, {}),
    ]:
        assert lifecycle.fire_named(trigger, **data) is Outcome.ACCEPTED, trigger

    greeting = Utterance("assistant", "Hello Ada!", 0)
    question = Utterance("user", "Book a table", 1)
    answer = Utterance("assistant", "For how many?", 1)
    assert effects.calls == [
        EffectCall("load_context", ()),
        EffectCall("start_greeting", (0,)),
        EffectCall("record", (greeting,)),
        EffectCall("listen", (0,)),
        EffectCall("record", (question,)),
        EffectCall("start_reply", (1, UserTurnCompleted("Book a table"), 1)),
        EffectCall("record", (answer,)),
        EffectCall("listen", (1,)),
        EffectCall("say_farewell", ()),
        EffectCall("flush", (EndReason.HANG_UP,)),
        EffectCall("shut_down", (EndReason.HANG_UP,)),
    ]
    assert lifecycle.is_finished
    assert lifecycle.end_reason is EndReason.HANG_UP


def test_barge_in_stops_speech_and_keeps_only_what_was_spoken() -> None:
    lifecycle, effects = _started()
    lifecycle.fire(UserTurnCompleted(text="Tell me a story"))
    lifecycle.fire(ReplyStarted(turn=1))
    mark = len(effects.calls)

    assert lifecycle.fire(Interrupted(turn=1, spoken="Once upon")) is Outcome.ACCEPTED

    partial = Utterance("assistant", "Once upon", 1, interrupted=True)
    assert effects.calls[mark:] == [
        EffectCall("interrupt", (1,)),
        EffectCall("record", (partial,)),
        EffectCall("listen", (1,)),
    ]
    assert lifecycle.state is State.LISTENING


def test_a_finished_reply_is_not_interrupted() -> None:
    lifecycle, effects = _started()
    lifecycle.fire(UserTurnCompleted(text="Hi"))
    lifecycle.fire(ReplyStarted(turn=1))
    lifecycle.fire(ReplyFinished(turn=1, spoken="Hello."))
    assert "interrupt" not in effects.names()
    assert effects.history()[-1] == Utterance("assistant", "Hello.", 1, interrupted=False)


def test_a_late_completion_of_an_old_turn_is_refused() -> None:
    """The user spoke over reply 1; its late 'finished' must not end reply 2."""
    lifecycle, effects = _started()
    lifecycle.fire(UserTurnCompleted(text="First question"))
    lifecycle.fire(ReplyStarted(turn=1))
    lifecycle.fire(UserTurnCompleted(text="Actually, second question"))
    lifecycle.fire(ReplyStarted(turn=2))

    assert lifecycle.fire(ReplyFinished(turn=1, spoken="old")) is Outcome.STALE
    assert lifecycle.state is State.SPEAKING
    assert lifecycle.turn == 2
    assert ("interrupt", (1,)) in effects.calls  # reply 1 was stopped when turn 2 began


def test_speaking_over_the_reply_starts_a_new_turn() -> None:
    lifecycle, effects = _started()
    lifecycle.fire(UserTurnCompleted(text="one"))
    lifecycle.fire(ReplyStarted(turn=1))
    mark = len(effects.calls)

    lifecycle.fire(UserTurnCompleted(text="two", spoken="Sure, one is"))

    assert effects.names()[mark:] == [
        "interrupt",
        "record",
        "record",
        "start_reply",
    ]
    assert effects.history()[-2:] == [
        Utterance("assistant", "Sure, one is", 1, interrupted=True),
        Utterance("user", "two", 2),
    ]
    assert (lifecycle.state, lifecycle.turn) == (State.THINKING, 2)


def test_a_failed_reply_is_retried_then_apologised_for() -> None:
    lifecycle, effects = _started()
    lifecycle.fire(UserTurnCompleted(text="Hi"))

    assert lifecycle.fire(ReplyFailed(turn=1)) is Outcome.ACCEPTED
    assert lifecycle.state is State.THINKING
    assert effects.calls[-1] == EffectCall("start_reply", (1, UserTurnCompleted("Hi"), 2))

    assert lifecycle.fire(ReplyFailed(turn=1)) is Outcome.ACCEPTED
    assert lifecycle.state is State.LISTENING
    assert effects.names()[-2:] == ["listen", "apologise"]
    assert lifecycle.fire(UserTurnCompleted(text="Again")) is Outcome.ACCEPTED


def test_a_resumed_conversation_skips_the_greeting() -> None:
    effects = RecordingEffects()
    lifecycle = Lifecycle(effects)
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())
    assert lifecycle.state is State.LISTENING
    assert "start_greeting" not in effects.names()


@pytest.mark.parametrize("text", ["", "   ", None, 42])
def test_a_blank_user_turn_is_guarded(text: object) -> None:
    lifecycle, effects = _started()
    calls = len(effects.calls)
    assert lifecycle.fire(UserTurnCompleted(text=text)) is Outcome.GUARDED
    assert (lifecycle.state, len(effects.calls)) == (State.LISTENING, calls)


def test_a_bool_is_not_a_turn_token() -> None:
    """``True == 1`` in Python; a token must be the int itself."""
    lifecycle, _ = _started()
    lifecycle.fire(UserTurnCompleted(text="Hi"))
    assert lifecycle.fire(ReplyStarted(turn=True)) is Outcome.STALE


@pytest.mark.parametrize(
    ("trigger", "farewell"),
    [
        (Trigger.HANG_UP, True),
        (Trigger.PARTICIPANT_LEFT, False),
        (Trigger.FATAL_ERROR, False),
    ],
)
def test_farewell_only_when_the_user_is_still_there(trigger: Trigger, farewell: bool) -> None:
    lifecycle, effects = _started()
    lifecycle.fire_named(trigger)
    assert ("say_farewell" in effects.names()) is farewell
    assert effects.calls[-1] == EffectCall("flush", (EndReason(trigger.value),))


def test_silence_ends_the_session_with_a_farewell() -> None:
    lifecycle, effects = _started()
    assert lifecycle.fire(SilenceTimeout(turn=0)) is Outcome.ACCEPTED
    assert lifecycle.end_reason is EndReason.SILENCE_TIMEOUT
    assert effects.names()[-2:] == ["say_farewell", "flush"]


def test_the_first_end_reason_wins() -> None:
    lifecycle, _ = _started()
    lifecycle.fire(ParticipantLeft())
    lifecycle.fire(FatalError())  # e.g. the flush could not start
    assert lifecycle.is_finished
    assert lifecycle.end_reason is EndReason.PARTICIPANT_LEFT


def test_a_failing_effect_ends_a_live_session_cleanly() -> None:
    effects = RecordingEffects(fail=frozenset({"start_reply"}))
    lifecycle = Lifecycle(effects)
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())

    assert lifecycle.fire(UserTurnCompleted(text="Hi")) is Outcome.ACCEPTED

    assert lifecycle.state is State.PERSISTING
    assert lifecycle.end_reason is EndReason.FATAL_ERROR
    assert lifecycle.effect_failures == {"start_reply": 1}
    assert effects.names()[-1] == "flush"


def test_a_failing_flush_still_lets_the_session_exit() -> None:
    effects = RecordingEffects(fail=frozenset({"flush"}))
    lifecycle, _ = reach(State.LISTENING)
    lifecycle._model.effects = effects
    lifecycle.fire(ParticipantLeft())
    assert lifecycle.is_finished
    assert effects.names() == ["flush", "shut_down"]


def test_a_failing_shut_down_is_recorded_and_the_session_stays_exited() -> None:
    lifecycle, _ = reach(State.PERSISTING)
    effects = RecordingEffects(fail=frozenset({"shut_down"}))
    lifecycle._model.effects = effects
    assert lifecycle.fire(Persisted()) is Outcome.ACCEPTED
    assert lifecycle.is_finished
    assert lifecycle.effect_failures == {"shut_down": 1}


def test_effect_errors_are_logged_without_their_message(caplog: pytest.LogCaptureFixture) -> None:
    """An exception's text may hold secrets; only its type is logged."""
    effects = RecordingEffects(fail=frozenset({"load_context"}))
    lifecycle = Lifecycle(effects)
    with caplog.at_level(logging.DEBUG, logger="voicefsm.lifecycle"):
        lifecycle.fire(Joined())
    failed = [r for r in caplog.records if r.getMessage() == "lifecycle effect failed"]
    assert [(r.effect, r.error_type) for r in failed] == [("load_context", "InjectedEffectError")]  # type: ignore[attr-defined]
    assert not any("on purpose" in r.getMessage() or r.exc_info for r in caplog.records)


def test_a_trigger_fired_inside_a_callback_runs_after_it() -> None:
    """An effect that completes synchronously re-enters the machine; the trigger is queued."""

    class InstantContext(RecordingEffects):
        outcome: Outcome | None = None

        def load_context(self) -> None:
            super().load_context()
            self.outcome = lifecycle.fire(ContextLoaded())

    effects = InstantContext()
    lifecycle = Lifecycle(effects)
    assert lifecycle.fire(Joined()) is Outcome.ACCEPTED
    assert effects.outcome is Outcome.QUEUED
    assert lifecycle.state is State.GREETING
    assert [e.trigger for e in lifecycle.timeline] == [Trigger.JOINED, Trigger.CONTEXT_LOADED]


def test_refusals_are_counted_and_logged_naming_state_trigger_and_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A person reads what was refused where; a trigger name nobody defined (anyone's text)
    never reaches the message, and the structured fields stay."""
    lifecycle, _ = _started()
    with caplog.at_level(logging.INFO, logger="voicefsm.lifecycle"):
        assert lifecycle.fire_named("no_such_trigger") is Outcome.UNKNOWN
        assert lifecycle.fire(Persisted()) is Outcome.ILLEGAL
    assert sum(lifecycle.refusals.values()) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "lifecycle trigger (unknown) refused in state listening: unknown",
        "lifecycle trigger persisted refused in state listening: illegal",
    ]
    assert {r.msg for r in caplog.records} == {"lifecycle trigger %s refused in state %s: %s"}
    assert [r.outcome for r in caplog.records] == ["unknown", "illegal"]  # type: ignore[attr-defined]
    assert [r.trigger for r in caplog.records] == ["no_such_trigger", "persisted"]  # type: ignore[attr-defined]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]


@pytest.mark.parametrize(
    "late", [HangUp(), ParticipantLeft(), SilenceTimeout(turn=0), CallerDropped(grace_s=5.0)]
)
def test_an_ending_that_races_the_agents_own_end_is_not_a_warning(
    caplog: pytest.LogCaptureFixture, late: TriggerData
) -> None:
    """The agent ends the call; the caller's hang-up (the room deleted under them) comes after.
    Refused, counted, logged at INFO: it happens on every call the agent ends."""
    lifecycle, _ = _started()
    lifecycle.fire(EndCall())
    assert lifecycle.state is State.PERSISTING
    with caplog.at_level(logging.INFO, logger="voicefsm.lifecycle"):
        assert lifecycle.fire(late) is Outcome.ILLEGAL
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"lifecycle trigger {late.trigger.value} refused in state persisting: illegal"
    )


def test_timeline_exports_json_lines_from_an_injected_clock() -> None:
    ticks = iter(range(100))
    lifecycle = Lifecycle(RecordingEffects(), clock=lambda: float(next(ticks)))
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())
    lines = [json.loads(line) for line in lifecycle.timeline.to_jsonl().splitlines()]
    assert lines == [
        {"t": 1.0, "from": "joining", "to": "loading_context", "trigger": "joined", "turn": 0},
        {"t": 2.0, "from": "loading_context", "to": "listening", "trigger": "resumed", "turn": 0},
    ]


def test_listeners_see_each_transition_and_a_broken_one_is_dropped() -> None:
    lifecycle = Lifecycle(RecordingEffects())
    seen: list[str] = []
    lifecycle.subscribe(lambda entry: seen.append(entry.dest.value))

    def broken(entry: object) -> None:
        raise RuntimeError

    lifecycle.subscribe(broken)
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())
    assert seen == ["loading_context", "listening"]
    assert lifecycle.state is State.LISTENING


def test_max_reply_attempts_must_allow_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Lifecycle(RecordingEffects(), max_reply_attempts=0)
    with pytest.raises(ValueError, match="at least 1"):
        Lifecycle(RecordingEffects(), max_failed_turns=0)


def _fail_turn(lifecycle: Lifecycle, text: str) -> None:
    lifecycle.fire(UserTurnCompleted(text=text))
    lifecycle.fire(ReplyFailed(turn=lifecycle.turn))
    lifecycle.fire(ReplyFailed(turn=lifecycle.turn))


def test_turns_failing_in_a_row_end_the_session_as_a_fatal_error() -> None:
    """Two failed turns get apologies; the third in a row means the providers are down."""
    effects = RecordingEffects()
    lifecycle = Lifecycle(effects, max_failed_turns=3)
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())

    _fail_turn(lifecycle, "one")
    _fail_turn(lifecycle, "two")
    assert (lifecycle.state, effects.names().count("apologise")) == (State.LISTENING, 2)
    _fail_turn(lifecycle, "three")

    assert lifecycle.state is State.PERSISTING
    assert lifecycle.end_reason is EndReason.FATAL_ERROR
    assert effects.names().count("apologise") == 2
    assert effects.calls[-1] == EffectCall("flush", (EndReason.FATAL_ERROR,))


def test_a_reply_played_to_its_end_starts_the_failure_count_again() -> None:
    effects = RecordingEffects()
    lifecycle = Lifecycle(effects, max_failed_turns=2)
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())

    _fail_turn(lifecycle, "one")
    lifecycle.fire(UserTurnCompleted(text="two"))
    lifecycle.fire(ReplyStarted(turn=2))
    lifecycle.fire(ReplyFinished(turn=2, spoken="Fine."))
    _fail_turn(lifecycle, "three")

    assert lifecycle.state is State.LISTENING
    assert effects.names().count("apologise") == 2


def test_available_triggers_follow_the_table() -> None:
    lifecycle, _ = reach(State.PERSISTING)
    assert set(lifecycle.available_triggers()) == {
        Trigger.PERSISTED,
        Trigger.FATAL_ERROR,
        Trigger.SPOKE,
    }


def test_the_lifecycle_imports_neither_livekit_nor_httpx() -> None:
    code = (
        "import sys, voicefsm.lifecycle, voicefsm.testing;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'livekit', 'httpx'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
