"""EarlyTurns: a user turn that comes before the lifecycle can take one is held, in order,
and handed over the moment it can; a reply livekit gave such a turn stays that turn's."""

from __future__ import annotations

from livekit.agents.voice import SpeechHandle

from tests.engine.fakes import lifecycle, trail
from voicefsm.engine.early_turns import EarlyTurns
from voicefsm.engine.turn_sources import AdoptedReply
from voicefsm.lifecycle import ContextLoaded, Joined, Outcome, Resumed, UserTurnCompleted


def test_a_turn_while_joining_is_held_and_taken_once_the_session_greets() -> None:
    machine, effects = lifecycle()
    turns = EarlyTurns(machine)

    assert turns.hand_over(UserTurnCompleted("Hello?")) is Outcome.QUEUED
    machine.fire(Joined())
    assert turns.hand_over(UserTurnCompleted("Anyone there?")) is Outcome.QUEUED
    assert not [step for step in trail(machine) if step[1] == "user_turn_completed"]

    machine.fire(ContextLoaded())  # greeting: the held turns go in, in order

    assert trail(machine)[1:] == [
        ("loading_context", "context_loaded", "greeting"),
        ("greeting", "user_turn_completed", "thinking"),  # cuts the greeting short
        ("thinking", "user_turn_completed", "thinking"),
    ]
    assert [u.text for u in effects.history()] == ["Hello?", "Anyone there?"]


def test_a_turn_once_listening_goes_straight_in() -> None:
    machine, _ = lifecycle()
    turns = EarlyTurns(machine)
    machine.fire(Joined())
    machine.fire(Resumed())

    assert turns.hand_over(UserTurnCompleted("Is the pool open?")) is Outcome.ACCEPTED
    assert trail(machine)[-1] == ("listening", "user_turn_completed", "thinking")


async def test_the_reply_to_a_held_turn_is_known_as_that_turns() -> None:
    machine, _ = lifecycle()
    turns = EarlyTurns(machine)
    reply, other = SpeechHandle.create(), SpeechHandle.create()

    turns.hand_over(UserTurnCompleted("Book it", source=AdoptedReply(reply)))

    assert turns.holds(reply)
    assert not turns.holds(other)
    machine.fire(Joined())
    machine.fire(Resumed())  # handed over: no longer held here
    assert not turns.holds(reply)
