"""Drive a lifecycle through real triggers, deriving paths and data from the table."""

from __future__ import annotations

from collections import deque
from itertools import product

from voicefsm.lifecycle import (
    TRANSITIONS,
    Edge,
    Guard,
    Lifecycle,
    Outcome,
    State,
    ToolCall,
    ToolOutcome,
    Trigger,
)
from voicefsm.lifecycle.states import INITIAL_STATE
from voicefsm.testing import RecordingEffects

#: Every (state, trigger) pair that has at least one edge.
EDGE_PAIRS = frozenset((edge.source, edge.trigger) for edge in TRANSITIONS)
#: Every other pair: the machine must refuse these.
REFUSED_PAIRS = sorted(set(product(State, Trigger)) - EDGE_PAIRS)
TURN_GUARDED_EDGES = [edge for edge in TRANSITIONS if Guard.IS_CURRENT_TURN in edge.guards]


def edge_id(edge: Edge) -> str:
    dest = edge.dest.value if edge.dest else "(stays)"
    guards = "+".join(edge.guards)
    return f"{edge.source.value}-{edge.trigger.value}-{dest}" + (f"[{guards}]" if guards else "")


def valid_data(lifecycle: Lifecycle, trigger: Trigger) -> dict[str, object]:
    """Data that satisfies every data guard of ``trigger``: the current turn, some text, a
    finished tool call, the agents of a handoff."""
    call = ToolCall("call-1", "lookup", lifecycle.turn, "{}", "sunny", ToolOutcome.OK, 0.2)
    return {
        "turn": lifecycle.turn,
        "text": "what's the weather?",
        "spoken": "It is sunny.",
        "name": "lookup",
        "call": call,
        "from_agent": "front_desk",
        "to_agent": "billing",
    }


def _shortest_paths() -> dict[State, list[Trigger]]:
    """Breadth-first over the table (first edge wins), from the initial state to every state."""
    paths: dict[State, list[Trigger]] = {INITIAL_STATE: []}
    frontier = deque([INITIAL_STATE])
    while frontier:
        state = frontier.popleft()
        for edge in TRANSITIONS:
            if edge.source is state and edge.dest is not None and edge.dest not in paths:
                paths[edge.dest] = [*paths[state], edge.trigger]
                frontier.append(edge.dest)
    return paths


PATHS = _shortest_paths()


def reach(
    state: State, *, max_reply_attempts: int = 2, max_failed_turns: int = 3
) -> tuple[Lifecycle, RecordingEffects]:
    """A lifecycle brought to ``state`` by accepted triggers, with its recording effects."""
    effects = RecordingEffects()
    lifecycle = Lifecycle(
        effects, max_reply_attempts=max_reply_attempts, max_failed_turns=max_failed_turns
    )
    for trigger in PATHS[state]:
        outcome = lifecycle.fire_named(trigger, **valid_data(lifecycle, trigger))
        assert outcome is Outcome.ACCEPTED, (state, trigger, outcome)
    assert lifecycle.state is state
    return lifecycle, effects
