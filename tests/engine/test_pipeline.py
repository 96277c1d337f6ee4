"""The Pipeline: each speaking effect starts a speech on the AgentSession and returns; the
speech's end becomes the trigger the lifecycle expects, for the turn it was started for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from livekit.agents import llm

from tests.engine.fakes import (
    LOG,
    FakeAgentSession,
    FakeOutbox,
    finish,
    lifecycle,
    session_writes,
    settle,
    trail,
)
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.enrichment import Enrichment, context_block
from voicefsm.engine.latency import TurnLatencies
from voicefsm.engine.phrases import Phrases
from voicefsm.engine.pipeline import Pipeline
from voicefsm.engine.turn_sources import AdoptedReply, UserMessage
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import (
    ContextLoaded,
    Joined,
    Lifecycle,
    ReplyStarted,
    Resumed,
    UserTurnCompleted,
)
from voicefsm.testing import RecordingEffects

PHRASES = Phrases(greeting="Hello!", apology="Sorry?", farewell="Bye!", filler="One moment.")


class SnippetClient:
    """The backend client's context search (``BackendClient.context_for``)."""

    def __init__(self, snippets: list[str]) -> None:
        self.snippets = snippets
        self.asked: list[str] = []

    async def context_for(self, conversation_id: str, text: str, *, session_id: str) -> list[str]:
        self.asked.append(text)
        return self.snippets


@dataclass
class Rig:
    session: FakeAgentSession
    machine: Lifecycle
    effects: RecordingEffects
    outbox: FakeOutbox
    latencies: TurnLatencies
    pipeline: Pipeline

    def errors(self) -> list[tuple[str, str]]:
        return [(e.source, e.error_type) for k, e in self.outbox.events if e.kind == "error"]  # type: ignore[union-attr]

    def assistant(self) -> list[tuple[str, bool]]:
        return [(u.text, u.interrupted) for u in self.effects.history() if u.role.value != "user"]


def _rig(*, deadline_s: float = 5.0, snippets: list[str] | None = None) -> Rig:
    session, outbox = FakeAgentSession(), FakeOutbox()
    machine, effects = lifecycle()
    client = SnippetClient(snippets) if snippets is not None else None
    enrichment = Enrichment(
        client,  # type: ignore[arg-type]
        conversation_id=ConversationId("c1"),
        session_id=SessionId("s1"),
        deadline_s=1.0,
        backoff_s=1.0,
        log=LOG,
    )
    latencies = TurnLatencies()
    pipeline = Pipeline(
        session,  # type: ignore[arg-type]
        machine,
        writes=session_writes(outbox),
        enrichment=enrichment,
        phrases=PHRASES,
        reply_start_deadline_s=deadline_s,
        tasks=CallTasks(LOG),
        latencies=latencies,
    )
    return Rig(session, machine, effects, outbox, latencies, pipeline)


def _thinking(rig: Rig, text: str = "Is the pool open?", source: object = None) -> int:
    """The lifecycle listening, then a user turn: thinking, its reply requested."""
    if rig.machine.state.value == "joining":
        rig.machine.fire(Joined())
        rig.machine.fire(Resumed())
    rig.machine.fire(UserTurnCompleted(text, source=source))  # type: ignore[arg-type]
    return rig.machine.turn


async def _reply(rig: Rig, turn: int, text: str = "Is the pool open?", attempt: int = 1):  # type: ignore[no-untyped-def]
    rig.pipeline.start_reply(turn, UserTurnCompleted(text), attempt)
    await settle()
    return rig.session.replies[-1]


async def test_the_greeting_is_said_and_heard_to_its_end() -> None:
    rig = _rig()
    rig.machine.fire(Joined())
    rig.machine.fire(ContextLoaded())
    rig.pipeline.start_greeting(rig.machine.turn)
    [(text, handle, _)] = rig.session.said
    assert text == "Hello!"
    assert rig.pipeline.is_own(handle)
    assert rig.pipeline.unfinished_speech() is handle

    finish(handle, "Hello!")
    await settle()

    assert trail(rig.machine)[-1] == ("greeting", "greeted", "listening")
    assert rig.assistant() == [("Hello!", False)]
    assert rig.pipeline.unfinished_speech() is None


async def test_a_greeting_cut_short_is_interrupted_with_what_was_heard() -> None:
    rig = _rig()
    rig.machine.fire(Joined())
    rig.machine.fire(ContextLoaded())
    rig.pipeline.start_greeting(rig.machine.turn)
    finish(rig.session.said[0][1], "Hel", interrupted=True)
    await settle()

    assert trail(rig.machine)[-1] == ("greeting", "interrupted", "listening")
    assert rig.assistant() == [("Hel", True)]


async def test_a_reply_answers_livekits_message_and_ends_the_turn() -> None:
    rig = _rig()
    message = llm.ChatMessage(role="user", content=["Is the pool open?"])
    turn = _thinking(rig, source=UserMessage(message))
    [call] = [c for c in rig.effects.calls if c.name == "start_reply"]
    rig.pipeline.start_reply(*call.args)  # type: ignore[arg-type]
    await settle()

    [(options, handle)] = rig.session.replies
    assert options == {"user_input": message}  # the message itself: its id and metrics kept
    assert rig.pipeline.sent(message)
    assert rig.pipeline.audio_started(handle.id) == turn
    finish(handle, "Until nine.", metrics={"e2e_latency": 0.42, "llm_node_ttft": 0.1})
    await settle()

    assert trail(rig.machine)[-2:] == [
        ("thinking", "reply_started", "speaking"),  # it finished before its audio was reported
        ("speaking", "reply_finished", "listening"),
    ]
    assert rig.assistant() == [("Until nine.", False)]
    latency = rig.latencies.by_turn[turn]
    assert (latency.e2e_latency_s, latency.llm_ttft_s, latency.tts_ttfb_s) == (0.42, 0.1, None)


async def test_a_retry_answers_the_message_livekit_already_holds() -> None:
    rig = _rig()
    message = llm.ChatMessage(role="user", content=["Again?"])
    rig.session.history.insert(message)
    turn = _thinking(rig, "Again?")
    rig.pipeline.start_reply(turn, UserTurnCompleted("Again?", source=UserMessage(message)), 2)
    await settle()
    assert rig.session.replies[-1][0] == {}
    assert not rig.pipeline.sent(message)


async def test_a_typed_turn_without_a_message_is_answered_from_its_text() -> None:
    rig = _rig()
    turn = _thinking(rig, "Typed in")
    options, _ = await _reply(rig, turn, "Typed in")
    assert options == {"user_input": "Typed in"}


async def test_a_reply_livekit_already_started_is_adopted_not_generated_again() -> None:
    rig = _rig()
    turn = _thinking(rig)
    speech = rig.session.generate_reply()  # livekit's own, from session.run
    rig.session.replies.clear()

    rig.pipeline.start_reply(turn, UserTurnCompleted("Hi", source=AdoptedReply(speech)), 1)
    assert rig.pipeline.adopted(speech)
    assert rig.pipeline.is_own(speech)
    assert rig.pipeline.audio_started(speech.id) == turn
    finish(speech, "Hi there.")
    await settle()
    assert rig.session.replies == []
    assert trail(rig.machine)[-1] == ("speaking", "reply_finished", "listening")

    # Its retry is generated, without the user's message (livekit added it with its speech).
    turn = _thinking(rig)
    rig.pipeline.start_reply(turn, UserTurnCompleted("Hi", source=AdoptedReply(speech)), 2)
    await settle()
    assert rig.session.replies[-1][0] == {}


async def test_backend_context_goes_with_the_reply_as_quoted_notes() -> None:
    rig = _rig(snippets=["prefers window seats"])
    turn = _thinking(rig, "A table for two")
    options, _ = await _reply(rig, turn, "A table for two")
    assert options["instructions"] == context_block(["prefers window seats"])


async def test_a_reply_overtaken_while_enriching_is_never_generated() -> None:
    rig = _rig(snippets=[])
    turn = _thinking(rig)
    rig.pipeline.start_reply(turn, UserTurnCompleted("Is the pool open?"), 1)
    rig.machine.fire(UserTurnCompleted("Actually, the gym?"))  # a newer turn, before the task ran
    await settle()
    assert [options["user_input"] for options, _ in rig.session.replies] == []


async def test_a_reply_that_fails_is_an_error_and_a_failed_reply() -> None:
    rig = _rig()
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    finish(handle, "Until", error=RuntimeError("provider down"))
    await settle()

    assert trail(rig.machine)[-1] == ("thinking", "reply_failed", "thinking")  # a retry
    assert rig.errors() == [("llm", "RuntimeError")]


async def test_an_empty_reply_fails_and_a_failed_synthesis_is_the_tts() -> None:
    rig = _rig()
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    finish(handle)
    await settle()
    _, handle = await _reply(rig, turn, attempt=2)
    rig.pipeline.synthesis_failed(handle)
    finish(handle, "Until ni")  # livekit ends it quietly; part of it was heard
    await settle()

    assert rig.errors() == [("llm", "EmptyReply"), ("tts", "EmptyReply")]
    assert [step[1] for step in trail(rig.machine)][-2:] == ["reply_failed", "reply_failed"]


async def test_an_interrupted_reply_is_interrupted() -> None:
    rig = _rig()
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    rig.pipeline.audio_started(handle.id)
    rig.machine.fire(ReplyStarted(turn))
    rig.pipeline.interrupt()
    assert handle.interrupted
    finish(handle, "Until", interrupted=True)
    await settle()
    assert trail(rig.machine)[-1] == ("speaking", "interrupted", "listening")
    assert rig.assistant() == [("Until", True)]


async def test_an_older_turns_reply_ending_late_is_recorded_as_said() -> None:
    rig = _rig()
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    rig.machine.fire(UserTurnCompleted("Never mind"))  # the lifecycle moved on: turn 2
    finish(handle, "The pool opens at six.")
    await settle()
    assert trail(rig.machine)[-1] == ("thinking", "spoke", "thinking")
    assert rig.assistant() == [("The pool opens at six.", False)]


async def test_a_reply_waiting_on_a_tool_is_not_interrupted() -> None:
    """livekit never stops a running tool, and an AgentTask runs inside one."""
    rig = _rig()
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    rig.pipeline.tools_started(handle)
    rig.pipeline.interrupt()
    assert not handle.interrupted


async def test_a_reply_with_no_audio_by_its_deadline_is_given_up() -> None:
    rig = _rig(deadline_s=0.02)
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    await asyncio.sleep(0.06)

    assert rig.session.interrupts == [True]  # everything queued goes too
    assert rig.errors() == [("reply", "ReplyStartTimeout")]
    assert trail(rig.machine)[-1] == ("thinking", "reply_failed", "thinking")
    finish(handle, "Late")  # its late end is ignored
    await settle()
    assert [step[1] for step in trail(rig.machine)].count("reply_failed") == 1


async def test_tools_hold_the_deadline_and_a_silent_tool_reply_is_a_success() -> None:
    rig = _rig(deadline_s=0.02)
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    rig.pipeline.tools_started(handle)
    await asyncio.sleep(0.06)  # a slow tool is not a hung provider
    assert rig.errors() == []

    rig.pipeline.tools_finished(handle, reply_wanted=False)
    finish(handle)  # nothing said: what the tool asked for
    await settle()
    assert trail(rig.machine)[-1] == ("thinking", "reply_finished", "listening")
    assert rig.errors() == []


async def test_the_answer_to_a_tool_must_start_in_time_again() -> None:
    rig = _rig(deadline_s=0.03)
    turn = _thinking(rig)
    _, handle = await _reply(rig, turn)
    rig.pipeline.tools_started(handle)
    rig.pipeline.tools_finished(handle, reply_wanted=True)
    await asyncio.sleep(0.08)
    assert rig.errors() == [("reply", "ReplyStartTimeout")]


async def test_an_apology_and_a_filler_join_the_record_once_heard() -> None:
    rig = _rig()
    _thinking(rig)
    rig.pipeline.apologise(rig.machine.turn)
    rig.pipeline.say_filler()
    (apology, a, a_options), (filler, f, _) = rig.session.said
    assert (apology, filler) == ("Sorry?", "One moment.")
    assert a_options == {"add_to_chat_ctx": False, "allow_interruptions": True}
    finish(a, "Sorry?")
    finish(f, "One", interrupted=True)  # cut off: not recorded as said
    await settle()
    assert rig.assistant() == [("Sorry?", False)]


async def test_the_farewell_cannot_be_interrupted_and_is_reported_once_heard() -> None:
    rig = _rig()
    rig.pipeline.say_farewell()
    [(text, handle, options)] = rig.session.said
    assert (text, options["allow_interruptions"], options["add_to_chat_ctx"]) == (
        "Bye!",
        False,
        True,
    )
    assert rig.pipeline.farewell_spoken() is None  # not yet done
    finish(handle, "Bye!")
    spoken = rig.pipeline.farewell_spoken()
    assert spoken is not None
    assert spoken.spoken == "Bye!"


async def test_nothing_is_said_once_the_session_closes() -> None:
    rig = _rig()
    rig.pipeline.session_closed()
    rig.pipeline.apologise(0)
    rig.pipeline.say_farewell()
    assert rig.session.said == []
    assert rig.pipeline.farewell is None

    closing = _rig()
    closing.session.closing = True  # livekit began closing: say() would raise
    closing.pipeline.say_filler()
    assert closing.session.said == []
