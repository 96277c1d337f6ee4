"""SessionWrites: every write a session makes is built here and handed to the outbox without
blocking; one the outbox cannot take is counted and logged, never raised into the call."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from tests.engine.fakes import FakeOutbox, session_writes
from voicefsm.backend.models import MAX_TOOL_TEXT
from voicefsm.errors import OutboxError, SpoolFullError
from voicefsm.lifecycle import EndReason, Timeline, ToolCall, ToolOutcome, Utterance


async def test_an_utterance_is_history_and_a_message_event_keyed_by_it() -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    item = writes.utterance(Utterance("user", "Is the pool open?", 1))

    assert writes.record.history == [item]
    [(conversation, event)] = outbox.events
    assert (conversation, event.kind, event.idempotency_key) == ("c1", "message", item.id)
    assert (event.text, event.turn, event.session_id) == ("Is the pool open?", 1, "s1")  # type: ignore[union-attr]
    assert writes.record.counters.writes == 1


async def test_each_kind_of_write_gets_the_next_key_of_the_session() -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    writes.transcription("hello", "en-US")
    writes.speech("speech_1", "say", user_initiated=False)
    writes.error("llm", "APIError", recoverable=True)
    writes.app_event("booking", {"table": 4})
    writes.handoff("FrontDesk", "Billing")

    assert outbox.kinds() == ["transcription", "speech", "error", "app", "handoff"]
    assert [e.idempotency_key for _, e in outbox.events] == [f"s1:00000{i}" for i in range(1, 6)]
    assert writes.record.counters.errors == {"llm": 1}
    assert writes.record.counters.app_events == 1


async def test_a_failed_tool_call_is_also_an_error_where_errors_are() -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    for outcome in (ToolOutcome.OK, ToolOutcome.ERROR, ToolOutcome.TIMEOUT):
        writes.tool_call(ToolCall("c", "lookup", 1, "{}", "x" * 40_000, outcome, -1.0))

    assert outbox.kinds() == ["tool_call", "tool_call", "error", "tool_call", "error"]
    errors = [(e.source, e.error_type) for _, e in outbox.events if e.kind == "error"]  # type: ignore[union-attr]
    assert errors == [("tool", "ToolError"), ("tool", "ToolTimeout")]
    first = outbox.events[0][1]
    assert (len(first.result), first.duration_s) == (MAX_TOOL_TEXT, 0.0)  # type: ignore[union-attr]
    assert len(writes.record.tool_calls) == 3


async def test_an_app_event_the_contract_refuses_is_the_callers_mistake() -> None:
    writes = session_writes()
    with pytest.raises(ValueError, match="name"):
        writes.app_event("", {})


async def test_an_app_event_from_another_thread_lands_on_the_loop() -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    errors: list[Exception] = []

    def hook() -> None:  # a sync hook, on its own thread
        writes.app_event_from_any_thread("note", {"ok": True})
        try:
            writes.app_event_from_any_thread("bad name with spaces" * 20, {})
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=hook)
    thread.start()
    thread.join()
    await asyncio.sleep(0)

    assert outbox.kinds() == ["app"]
    assert len(errors) == 1  # raised in the hook's thread


@pytest.mark.parametrize(
    ("refusal", "message"),
    [
        (SpoolFullError("full"), "outbox full: write refused"),
        (OutboxError("closed"), "outbox closed: write refused"),
    ],
)
async def test_a_write_the_outbox_refuses_is_counted_and_logged(
    refusal: OutboxError, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    outbox.refuse = refusal
    with caplog.at_level(logging.ERROR):
        writes.utterance(Utterance("user", "Hi", 1))
        writes.error("llm", "X", recoverable=True)
        writes.summary(EndReason.HANG_UP, Timeline(origin=0.0))

    assert writes.record.counters.writes_refused == 3
    assert writes.record.counters.writes == 0
    assert [r.getMessage() for r in caplog.records] == [message] * 3
    assert len(writes.record.history) == 1  # history is kept all the same


async def test_the_summary_is_the_sessions_last_write() -> None:
    outbox = FakeOutbox()
    writes = session_writes(outbox)
    writes.utterance(Utterance("user", "Hi", 1))
    writes.summary(EndReason.HANG_UP, Timeline(origin=0.0))
    [summary] = outbox.summaries
    assert (summary.session_id, summary.end_reason, len(summary.messages)) == (
        "s1",
        EndReason.HANG_UP,
        1,
    )
