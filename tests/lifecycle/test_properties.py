"""Random event sequences (hypothesis): the invariants hold whatever arrives, in any order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lifecycle.walk import EDGE_PAIRS
from voicefsm.lifecycle import HangUp, Lifecycle, Outcome, Persisted, State, Trigger
from voicefsm.lifecycle.states import LIVE_STATES
from voicefsm.testing import RecordingEffects

_TRIGGER_NAMES = st.one_of(st.sampled_from(list(Trigger)), st.text(max_size=12))
_JUNK = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.text(max_size=8), st.floats())


@st.composite
def _events(draw: st.DrawFn) -> tuple[str, dict[str, object], str]:
    """A trigger with data; the token is current, stale or junk (resolved against the live turn)."""
    trigger = draw(_TRIGGER_NAMES)
    token = draw(st.sampled_from(["current", "older", "newer", "junk", "absent"]))
    data: dict[str, object] = {}
    if draw(st.booleans()):
        data["text"] = draw(st.one_of(st.text(max_size=20), _JUNK))
    if draw(st.booleans()):
        data["spoken"] = draw(st.one_of(st.text(max_size=20), _JUNK))
    if token == "junk":
        data["turn"] = draw(_JUNK)
    return trigger, data, token


def _with_token(lifecycle: Lifecycle, data: dict[str, object], token: str) -> dict[str, object]:
    offsets = {"current": 0, "older": -1, "newer": 1}
    if token in offsets:
        return data | {"turn": lifecycle.turn + offsets[token]}
    return data


@settings(max_examples=400, deadline=None)
@given(
    events=st.lists(_events(), max_size=60),
    fail=st.sets(st.sampled_from(["start_reply", "listen", "flush", "record"])),
)
def test_random_events_keep_every_invariant(
    events: list[tuple[str, dict[str, object], str]], fail: set[str]
) -> None:
    effects = RecordingEffects(fail=frozenset(fail))
    lifecycle = Lifecycle(effects)
    for trigger, raw, token in events:
        before, turn_before = lifecycle.state, lifecycle.turn
        data = _with_token(lifecycle, raw, token)

        outcome = lifecycle.fire_named(trigger, **data)  # never raises

        assert outcome is not Outcome.FAILED
        if outcome is Outcome.ACCEPTED:
            assert (before, trigger) in EDGE_PAIRS
        if token in ("older", "newer"):
            # A completion for another turn never moves a turn-guarded edge.
            assert not (outcome is Outcome.ACCEPTED and trigger in _COMPLETIONS)
        if outcome in (Outcome.ILLEGAL, Outcome.UNKNOWN, Outcome.STALE, Outcome.GUARDED):
            assert (lifecycle.state, lifecycle.turn) == (before, turn_before)
        assert lifecycle.turn >= turn_before
        _assert_timeline_consistent(lifecycle)

    _assert_never_stuck(lifecycle)


_COMPLETIONS = {
    Trigger.GREETED,
    Trigger.REPLY_STARTED,
    Trigger.REPLY_FINISHED,
    Trigger.INTERRUPTED,
    Trigger.REPLY_FAILED,
    Trigger.SILENCE_TIMEOUT,
}


def _assert_timeline_consistent(lifecycle: Lifecycle) -> None:
    """The timeline is a chain from joining to the current state, in time order."""
    previous, last_t = State.JOINING, 0.0
    for entry in lifecycle.timeline:
        assert entry.source is previous
        assert entry.t >= last_t
        previous, last_t = entry.dest, entry.t
    assert previous is lifecycle.state


def _assert_never_stuck(lifecycle: Lifecycle) -> None:
    """From wherever the events left it, the session can always be ended and exit."""
    if lifecycle.state in LIVE_STATES:
        assert lifecycle.fire(HangUp()) is Outcome.ACCEPTED
    if lifecycle.state is State.PERSISTING:
        assert lifecycle.fire(Persisted()) is Outcome.ACCEPTED
    assert lifecycle.is_finished
