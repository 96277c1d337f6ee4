"""The foreign-speech sorter: speeches livekit starts on its own are told apart from voicefsm's,
a user message livekit answers itself becomes a lifecycle turn adopting that speech, and what
the agent says outside a turn joins the record once heard."""

from __future__ import annotations

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle

from tests.engine.fakes import finish, lifecycle, settle, trail
from voicefsm.agent.overrides import keep_lifecycle_part
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.foreign_speech import ForeignSpeeches
from voicefsm.engine.turn_sources import AdoptedReply
from voicefsm.lifecycle import Joined, Resumed


class OwnSpeeches:
    """The pipeline's side (``OwnSpeeches``): which speeches and messages are voicefsm's."""

    def __init__(self) -> None:
        self.own_ids: set[str] = set()
        self.sent_ids: set[str] = set()
        self.adopted_ids: set[str] = set()

    def is_own(self, handle: SpeechHandle) -> bool:
        return handle.id in self.own_ids

    def sent(self, message: llm.ChatMessage) -> bool:
        return message.id in self.sent_ids

    def adopted(self, handle: SpeechHandle) -> bool:
        return handle.id in self.adopted_ids


def _sorter(listening: bool = True):
    machine, effects = lifecycle()
    if listening:
        machine.fire(Joined())
        machine.fire(Resumed())
    own = OwnSpeeches()
    turns = EarlyTurns(machine)
    return machine, effects, own, turns, ForeignSpeeches(machine, own, turns)


def _user(text: str) -> llm.ChatMessage:
    return llm.ChatMessage(role="user", content=[text])


async def test_a_user_message_livekit_answers_becomes_a_turn_adopting_its_speech() -> None:
    machine, effects, _, _, sorter = _sorter()
    speech = SpeechHandle.create()

    sorter.speech_created(speech)
    sorter.user_message(_user("  What's on the menu?  "))

    assert trail(machine)[-1] == ("listening", "user_turn_completed", "thinking")
    [call] = [c for c in effects.calls if c.name == "start_reply"]
    turn, request, attempt = call.args
    assert (turn, request.text, attempt) == (1, "What's on the menu?", 1)
    assert request.source == AdoptedReply(speech)


async def test_voicefsms_own_speeches_and_messages_are_left_alone() -> None:
    machine, _, own, _, sorter = _sorter()
    ours = SpeechHandle.create()
    own.own_ids.add(ours.id)
    sent = _user("Sent by the pipeline")
    own.sent_ids.add(sent.id)

    sorter.speech_created(ours)
    sorter.user_message(sent)  # voicefsm handed it to generate_reply itself
    sorter.user_message(_user("No foreign speech to answer it"))

    assert [step[1] for step in trail(machine)] == ["joined", "resumed"]


async def test_a_speech_already_adopted_or_held_is_not_taken_twice() -> None:
    machine, _, own, turns, sorter = _sorter(listening=False)
    adopted, held = SpeechHandle.create(), SpeechHandle.create()
    own.adopted_ids.add(adopted.id)
    sorter.speech_created(adopted)
    sorter.speech_created(held)

    sorter.user_message(_user("First"))  # takes the newest unclaimed: held
    assert turns.holds(held)
    sorter.user_message(_user("Second"))  # nothing left unclaimed: no turn

    machine.fire(Joined())
    machine.fire(Resumed())
    assert [step[1] for step in trail(machine)] == ["joined", "resumed", "user_turn_completed"]


async def test_what_the_agent_says_outside_a_turn_is_recorded_once_heard() -> None:
    machine, effects, _, _, sorter = _sorter()
    greeting = SpeechHandle.create()  # a handed-off agent's greeting, a tool's session.say
    silent = SpeechHandle.create()

    sorter.speech_created(greeting)
    sorter.speech_created(silent)
    await settle()  # sorted a tick after livekit announces them
    finish(greeting, "Welcome to billing.", interrupted=True)
    finish(silent)
    await settle()

    assert trail(machine)[-1] == ("listening", "spoke", "listening")
    [utterance] = effects.history()
    assert (utterance.role.value, utterance.text, utterance.interrupted) == (
        "assistant",
        "Welcome to billing.",
        True,
    )


async def test_an_adopted_speech_ending_is_left_to_the_pipeline() -> None:
    machine, effects, own, _, sorter = _sorter()
    speech = SpeechHandle.create()
    sorter.speech_created(speech)
    await settle()
    own.adopted_ids.add(speech.id)

    finish(speech, "Here is the menu.")
    await settle()

    assert not [s for s in trail(machine) if s[1] == "spoke"]
    assert not effects.history()


async def test_a_speech_of_the_agent_cut_off_before_a_word_is_on_the_timeline_not_in_history() -> (
    None
):
    machine, effects, _, _, sorter = _sorter()
    welcome = SpeechHandle.create()  # a handed-off agent's on_enter say, talked over at once
    sorter.speech_created(welcome)
    await settle()
    finish(welcome, interrupted=True)
    await settle()

    [entry] = [e for e in machine.timeline if e.trigger.value == "spoke"]
    assert (entry.source.value, entry.dest.value, entry.detail) == (
        "listening",
        "listening",
        "cut off before a word",
    )
    assert not effects.history()  # nothing was heard: no message to record


async def _started_on_enter(sorter: ForeignSpeeches) -> SpeechHandle:
    """A speech started from inside an agent's ``on_enter`` override, as livekit announces it."""
    speech = SpeechHandle.create()

    class Greets:
        async def on_enter(self) -> None:
            sorter.speech_created(speech)

    async def nothing(*_args: object) -> None:
        return None

    keep_lifecycle_part(Greets, enter=nothing, turn=nothing)
    await Greets().on_enter()
    await settle()
    return speech


async def test_an_on_enter_greeting_heard_while_loading_is_held_for_the_greeting() -> None:
    machine, effects, _, _, sorter = _sorter(listening=False)
    machine.fire(Joined())
    speech = await _started_on_enter(sorter)
    finish(speech, "Welcome to the Harbour Hotel.")  # heard before the context is loaded
    await settle()

    assert not effects.history()  # not on the record yet: the greeting records it
    assert [step[1] for step in trail(machine)] == ["joined"]
    assert sorter.entry_speech() is speech  # the greeting takes it, done as it is
    assert sorter.entry_speech() is None  # once


async def test_an_on_enter_greeting_heard_while_loading_is_recorded_once_when_the_call_resumes() -> (
    None
):
    machine, effects, _, _, sorter = _sorter(listening=False)
    machine.fire(Joined())
    speech = await _started_on_enter(sorter)
    finish(speech, "Welcome back.")
    await settle()
    machine.fire(Resumed())  # no greeting: what it said is recorded as said

    assert [step[1] for step in trail(machine)] == ["joined", "resumed", "spoke"]
    [utterance] = effects.history()
    assert (utterance.role.value, utterance.text) == ("assistant", "Welcome back.")
    assert sorter.entry_speech() is None
