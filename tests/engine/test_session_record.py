"""SessionState: what was said, by whom, in order, with deterministic keys and a valid summary."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from voicefsm.backend.models import Message, MessageEvent, Role, SessionSummary
from voicefsm.context import ParticipantMetadata
from voicefsm.engine.session_record import SessionRecord
from voicefsm.lifecycle import EndReason, HangUp, Joined, Lifecycle, Utterance
from voicefsm.testing import RecordingEffects


def clocked() -> SessionRecord:
    ticks = count(1_700_000_000)
    return SessionRecord("s1", "c1", clock=lambda: float(next(ticks)))


def test_history_keeps_order_roles_and_deterministic_keys() -> None:
    state = clocked()
    first = state.append(Utterance("assistant", "Hello!", 0))
    second = state.append(Utterance("user", "Hi", 1))
    third = state.append(Utterance("assistant", "Well", 1, interrupted=True))
    assert [item.id for item in state.history] == ["s1:000001", "s1:000002", "s1:000003"]
    assert [(i.role, i.text, i.interrupted) for i in (first, second, third)] == [
        (Role.ASSISTANT, "Hello!", False),
        (Role.USER, "Hi", False),
        (Role.ASSISTANT, "Well", True),
    ]
    assert first.at < second.at < third.at


def test_a_history_item_becomes_an_event_keyed_by_its_id() -> None:
    state = clocked()
    item = state.append(Utterance("user", "Hi", 1))
    event = state.message_event(item)
    assert (event.idempotency_key, event.session_id, event.text, event.turn) == (
        "s1:000001",
        "s1",
        "Hi",
        1,
    )


def test_a_message_event_is_valid_by_the_contract_even_for_huge_text() -> None:
    """Built without validation on the voice path, it must still be what validation accepts."""
    state = clocked()
    item = state.append(Utterance("user", "x" * 30_000, 1, interrupted=False))
    event = state.message_event(item)
    again = MessageEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert len(again.text) == 20_000


def test_keys_for_other_writes_continue_the_same_sequence() -> None:
    state = clocked()
    state.append(Utterance("user", "Hi", 1))
    assert state.next_key() == "s1:000002"


def test_preloaded_messages_are_kept_apart_from_this_sessions_history() -> None:
    state = clocked()
    state.preload(
        [
            Message(
                id="old:1",
                session_id="old",
                role=Role.USER,
                text="Earlier",
                turn=1,
                interrupted=False,
                at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]
    )
    assert [m.text for m in state.prior] == ["Earlier"]
    assert state.history == []


def test_the_summary_is_a_valid_wire_model_with_participants_and_timeline() -> None:
    state = clocked()
    state.participant_joined("caller", ParticipantMetadata(user_id="u_1", display_name="Ada"))
    state.append(Utterance("user", "Bye", 1))
    lifecycle = Lifecycle(RecordingEffects())
    lifecycle.fire(Joined())
    lifecycle.fire(HangUp())
    state.participant_left("caller")
    state.participant_left("caller")  # a second notice changes nothing

    summary = state.summary(EndReason.HANG_UP, lifecycle.timeline)

    again = SessionSummary.model_validate_json(summary.model_dump_json())
    assert again == summary
    assert summary.duration_s > 0
    assert [p.user_id for p in summary.participants] == ["u_1"]
    assert summary.participants[0].left_at is not None
    assert [m.text for m in summary.messages] == ["Bye"]
    assert [(r.from_state, r.to, r.trigger) for r in summary.timeline] == [
        ("joining", "loading_context", "joined"),
        ("loading_context", "persisting", "hang_up"),
    ]
    assert '"from":"joining"' in summary.model_dump_json()
