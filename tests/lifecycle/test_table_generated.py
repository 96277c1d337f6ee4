"""Tests generated from the transition table: every edge, every refused pair, every state."""

from __future__ import annotations

import pytest

from tests.lifecycle.walk import (
    EDGE_PAIRS,
    PATHS,
    REFUSED_PAIRS,
    TURN_GUARDED_EDGES,
    edge_id,
    reach,
    valid_data,
)
from voicefsm.lifecycle import STATES, TRANSITIONS, Edge, Guard, Outcome, Persisted, State, Trigger
from voicefsm.lifecycle.states import ENDING_TRIGGERS, FINAL_STATE, LIVE_STATES
from voicefsm.lifecycle.table import ACTION_EFFECTS

SPECS = {spec.state: spec for spec in STATES}


def _limits_for(edge: Edge) -> dict[str, int]:
    """An edge guarded by MAY_RETRY needs a retry left, one guarded by MAY_APOLOGISE an apology
    left; their fallback siblings need none (a first failed turn is then the last allowed)."""
    return {
        "max_reply_attempts": 2 if Guard.MAY_RETRY in edge.guards else 1,
        "max_failed_turns": 3 if Guard.MAY_APOLOGISE in edge.guards else 1,
    }


def _declared_effects(edge: Edge) -> set[str]:
    actions = [*edge.before, *edge.after]
    if edge.dest is not None:
        actions += [*SPECS[edge.source].on_exit, *SPECS[edge.dest].on_enter]
    return {effect for action in actions for effect in ACTION_EFFECTS[action].effects}


@pytest.mark.parametrize("edge", TRANSITIONS, ids=edge_id)
def test_edge_is_taken(edge: Edge) -> None:
    """Each edge moves to its destination, is timelined, and calls only its declared effects."""
    lifecycle, effects = reach(edge.source, **_limits_for(edge))
    calls_before, entries_before = len(effects.calls), len(lifecycle.timeline)

    outcome = lifecycle.fire_named(edge.trigger, **valid_data(lifecycle, edge.trigger))

    expected = edge.source if edge.dest is None else edge.dest
    assert outcome is Outcome.ACCEPTED
    assert lifecycle.state is expected
    assert len(lifecycle.timeline) == entries_before + 1
    entry = lifecycle.timeline[-1]
    assert (entry.source, entry.dest, entry.trigger) == (edge.source, expected, edge.trigger)
    made = {call.name for call in effects.calls[calls_before:]}
    assert made <= _declared_effects(edge)
    assert not lifecycle.refusals


@pytest.mark.parametrize("edge", TURN_GUARDED_EDGES, ids=edge_id)
@pytest.mark.parametrize("offset", [-1, 1])
def test_stale_completion_is_refused(edge: Edge, offset: int) -> None:
    """A completion carrying another turn's token changes nothing and is counted as stale."""
    lifecycle, effects = reach(edge.source, **_limits_for(edge))
    calls, entries = len(effects.calls), len(lifecycle.timeline)
    data = valid_data(lifecycle, edge.trigger) | {"turn": lifecycle.turn + offset}

    assert lifecycle.fire_named(edge.trigger, **data) is Outcome.STALE
    assert lifecycle.state is edge.source
    assert (len(effects.calls), len(lifecycle.timeline)) == (calls, entries)
    assert sum(lifecycle.refusals.values()) == 1


@pytest.mark.parametrize(
    ("state", "trigger"), REFUSED_PAIRS, ids=[f"{s.value}-{t.value}" for s, t in REFUSED_PAIRS]
)
def test_pair_without_edge_is_refused(state: State, trigger: Trigger) -> None:
    """A trigger with no edge from the current state is refused: no change, no effect, counted."""
    lifecycle, effects = reach(state)
    calls, entries = len(effects.calls), len(lifecycle.timeline)

    assert lifecycle.fire_named(trigger, **valid_data(lifecycle, trigger)) is Outcome.ILLEGAL
    assert lifecycle.state is state
    assert (len(effects.calls), len(lifecycle.timeline)) == (calls, entries)
    [(refusal, count)] = lifecycle.refusals.items()
    assert (refusal.outcome, refusal.state, refusal.trigger, count) == (
        Outcome.ILLEGAL,
        state,
        trigger.value,
        1,
    )


def test_generated_tests_cover_every_state_trigger_pair() -> None:
    """Edge tests and refusal tests together cover all states x triggers, each pair once."""
    refused = set(REFUSED_PAIRS)
    assert not refused & EDGE_PAIRS
    assert len(refused) + len(EDGE_PAIRS) == len(State) * len(Trigger)


def test_every_state_is_reachable_from_joining() -> None:
    assert set(PATHS) == set(State)


def test_every_state_reaches_exiting() -> None:
    """Reverse search from the final state finds every state."""
    reached, frontier = {FINAL_STATE}, [FINAL_STATE]
    while frontier:
        dest = frontier.pop()
        for edge in TRANSITIONS:
            if edge.dest is dest and edge.source not in reached:
                reached.add(edge.source)
                frontier.append(edge.source)
    assert reached == set(State)


def test_no_dead_ends_and_exiting_is_terminal() -> None:
    """Every state but exiting can move on; nothing leaves exiting."""
    movers = {edge.source for edge in TRANSITIONS if edge.dest not in (None, edge.source)}
    assert movers == set(State) - {FINAL_STATE}
    assert [spec.state for spec in STATES if spec.state is FINAL_STATE] == [FINAL_STATE]


@pytest.mark.parametrize("trigger", ENDING_TRIGGERS)
@pytest.mark.parametrize("state", LIVE_STATES)
def test_every_live_state_can_be_ended(state: State, trigger: Trigger) -> None:
    """Hang-up, participant leaving and fatal errors end every live state, then it exits."""
    lifecycle, _ = reach(state)
    assert lifecycle.fire_named(trigger) is Outcome.ACCEPTED
    assert lifecycle.state is State.PERSISTING
    assert lifecycle.fire(Persisted()) is Outcome.ACCEPTED
    assert lifecycle.is_finished


def test_required_behaviours_are_transitions() -> None:
    """Barge-in, resume-without-greeting and recoverable errors are edges of the table."""
    edges = {(edge.source, edge.trigger, edge.dest) for edge in TRANSITIONS}
    assert (State.SPEAKING, Trigger.INTERRUPTED, State.LISTENING) in edges
    assert (State.LOADING_CONTEXT, Trigger.RESUMED, State.LISTENING) in edges
    assert (State.THINKING, Trigger.REPLY_FAILED, None) in edges  # retry in place
    assert (State.THINKING, Trigger.REPLY_FAILED, State.LISTENING) in edges
    assert (State.SPEAKING, Trigger.REPLY_FAILED, State.LISTENING) in edges
    # Replies failing turn after turn (providers down for good) end the session.
    assert (State.THINKING, Trigger.REPLY_FAILED, State.PERSISTING) in edges
    assert (State.SPEAKING, Trigger.REPLY_FAILED, State.PERSISTING) in edges


def test_no_edge_is_shadowed() -> None:
    """For a (source, trigger) with several edges, each but the last is guarded by something the
    later ones are not, so every edge can be taken."""
    for index, edge in enumerate(TRANSITIONS):
        later = [
            e
            for e in TRANSITIONS[index + 1 :]
            if (e.source, e.trigger) == (edge.source, edge.trigger)
        ]
        for other in later:
            assert set(edge.guards) - set(other.guards), (edge_id(edge), edge_id(other))
