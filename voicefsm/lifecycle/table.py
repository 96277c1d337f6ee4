"""The lifecycle as data: states with their effects, and every transition with its guards.

This table is the single source of truth. The machine is built from it, the diagrams are drawn
from it and the isolation tests are generated from it. Change behaviour here, then run
``voicefsm diagrams`` to redraw; ``voicefsm diagrams --check`` fails until you do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from voicefsm.lifecycle.states import (
    ENDING_TRIGGERS,
    LIVE_STATES,
    SPEECH_STATES,
    TOOL_STATES,
    State,
    Trigger,
)


class Guard(StrEnum):
    """Conditions a transition checks against the trigger's data before it is taken."""

    IS_CURRENT_TURN = "is_current_turn"
    HAS_USER_TEXT = "has_user_text"
    MAY_RETRY = "may_retry"
    MAY_APOLOGISE = "may_apologise"


class Action(StrEnum):
    """Callbacks of the machine; each calls only the effects listed in :data:`ACTION_EFFECTS`."""

    LOAD_CONTEXT = "load_context"
    START_GREETING = "start_greeting"
    LISTEN = "listen"
    BEGIN_TURN = "begin_turn"
    START_REPLY = "start_reply"
    RETRY_REPLY = "retry_reply"
    STOP_SPEECH = "stop_speech"
    RECORD_REPLY = "record_reply"
    RECORD_SPEECH = "record_speech"
    RECORD_TOOL = "record_tool"
    RECORD_HANDOFF = "record_handoff"
    APOLOGISE = "apologise"
    CLEAR_FAILURES = "clear_failures"
    NOTE_END_REASON = "note_end_reason"
    SAY_FAREWELL = "say_farewell"
    FLUSH = "flush"
    SHUT_DOWN = "shut_down"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What an action may do (``effects``: names of :class:`~voicefsm.lifecycle.effects.Effects`
    methods) and how a diagram describes it (``label``, layer first; empty hides it)."""

    effects: tuple[str, ...]
    label: str


ACTION_EFFECTS: Mapping[Action, ActionSpec] = {
    Action.LOAD_CONTEXT: ActionSpec(("load_context",), "backend: recent messages, context"),
    Action.START_GREETING: ActionSpec(("start_greeting",), "TTS: greeting"),
    Action.LISTEN: ActionSpec(("listen",), "STT: user turn"),
    Action.BEGIN_TURN: ActionSpec(("record",), "history + outbox: user message"),
    Action.START_REPLY: ActionSpec(("start_reply",), "LLM + TTS: reply"),
    Action.RETRY_REPLY: ActionSpec(("start_reply",), "LLM + TTS: reply, again"),
    Action.STOP_SPEECH: ActionSpec(("interrupt",), "TTS: stop, unless finished"),
    Action.RECORD_REPLY: ActionSpec(("record",), "history + outbox: what was spoken"),
    Action.RECORD_SPEECH: ActionSpec(("record",), "history + outbox: what was said"),
    Action.RECORD_TOOL: ActionSpec(("record_tool",), "outbox: the tool call"),
    Action.RECORD_HANDOFF: ActionSpec(("record_handoff",), "outbox: the handoff"),
    Action.APOLOGISE: ActionSpec(("apologise",), "TTS: apology"),
    Action.CLEAR_FAILURES: ActionSpec((), ""),
    Action.NOTE_END_REASON: ActionSpec((), ""),
    Action.SAY_FAREWELL: ActionSpec(("say_farewell",), "TTS: farewell, if user is there"),
    Action.FLUSH: ActionSpec(("flush",), "backend: session summary; flush outbox"),
    Action.SHUT_DOWN: ActionSpec(("shut_down",), "room: close session, end job"),
}


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A state, what it means, and the actions run on entering and leaving it."""

    state: State
    summary: str
    on_enter: tuple[Action, ...] = ()
    on_exit: tuple[Action, ...] = ()


STATES: tuple[StateSpec, ...] = (
    StateSpec(State.JOINING, "connect to the room, wait for the participant"),
    StateSpec(
        State.LOADING_CONTEXT,
        "parse metadata; fetch history and context under a deadline (failure degrades)",
        on_enter=(Action.LOAD_CONTEXT,),
    ),
    StateSpec(
        State.GREETING,
        "greet a new conversation, personalised from participant context",
        on_enter=(Action.START_GREETING,),
        on_exit=(Action.STOP_SPEECH, Action.RECORD_REPLY),
    ),
    StateSpec(State.LISTENING, "the user has the floor", on_enter=(Action.LISTEN,)),
    StateSpec(
        State.THINKING,
        "a user turn completed: record it, start the reply",
        on_enter=(Action.BEGIN_TURN, Action.START_REPLY),
        on_exit=(Action.STOP_SPEECH,),
    ),
    StateSpec(
        State.SPEAKING,
        "the reply is playing; barge-in returns to listening",
        on_exit=(Action.STOP_SPEECH, Action.RECORD_REPLY),
    ),
    StateSpec(
        State.PERSISTING,
        "the conversation is over: farewell, session summary, flush under the deadline",
        on_enter=(Action.SAY_FAREWELL, Action.FLUSH),
    ),
    StateSpec(State.EXITING, "close the session; terminal", on_enter=(Action.SHUT_DOWN,)),
)

#: For each state that owns a speech, the triggers that leave it with the speech complete (or
#: handed on to the next state, or already failed): leaving by any other trigger stops it.
SPEECH_COMPLETIONS: Mapping[State, frozenset[Trigger]] = {
    State.GREETING: frozenset({Trigger.GREETED, Trigger.REPLY_FAILED}),
    State.THINKING: frozenset(
        {Trigger.REPLY_STARTED, Trigger.REPLY_FINISHED, Trigger.REPLY_FAILED}
    ),
    State.SPEAKING: frozenset({Trigger.REPLY_FINISHED, Trigger.REPLY_FAILED}),
}


@dataclass(frozen=True, slots=True)
class Edge:
    """One transition. ``dest=None`` is internal: the state is kept and not re-entered.

    Guards are checked in order against the trigger's data; for one (source, trigger) the first
    edge whose guards pass is taken.
    """

    trigger: Trigger
    source: State
    dest: State | None
    guards: tuple[Guard, ...] = ()
    before: tuple[Action, ...] = ()
    after: tuple[Action, ...] = ()


def _ending_edges() -> tuple[Edge, ...]:
    """Every live state can be ended by hang-up, the participant leaving, or a fatal error."""
    return tuple(
        Edge(trigger, source, State.PERSISTING, before=(Action.NOTE_END_REASON,))
        for trigger in ENDING_TRIGGERS
        for source in LIVE_STATES
    )


_TURN = (Guard.IS_CURRENT_TURN,)

TRANSITIONS: tuple[Edge, ...] = (
    Edge(Trigger.JOINED, State.JOINING, State.LOADING_CONTEXT),
    Edge(Trigger.CONTEXT_LOADED, State.LOADING_CONTEXT, State.GREETING),
    # A conversation with history skips the first-time greeting.
    Edge(Trigger.RESUMED, State.LOADING_CONTEXT, State.LISTENING),
    Edge(Trigger.GREETED, State.GREETING, State.LISTENING, _TURN),
    # A user turn starts a new reply from any state where the user may speak: speaking over the
    # greeting or the reply (or typing while it plays) stops it and answers the new turn.
    *(
        Edge(Trigger.USER_TURN_COMPLETED, source, State.THINKING, (Guard.HAS_USER_TEXT,))
        for source in (State.LISTENING, *SPEECH_STATES)
    ),
    Edge(Trigger.REPLY_STARTED, State.THINKING, State.SPEAKING, _TURN),
    # A reply that ends with nothing said: its tools asked for no reply (they returned None).
    Edge(
        Trigger.REPLY_FINISHED,
        State.THINKING,
        State.LISTENING,
        _TURN,
        after=(Action.CLEAR_FAILURES,),
    ),
    Edge(
        Trigger.REPLY_FINISHED,
        State.SPEAKING,
        State.LISTENING,
        _TURN,
        after=(Action.CLEAR_FAILURES,),
    ),
    # Barge-in: the user interrupts the agent.
    *(Edge(Trigger.INTERRUPTED, source, State.LISTENING, _TURN) for source in SPEECH_STATES),
    # Recoverable provider errors (an error, a timeout, a stall, an empty reply): retry the
    # reply once, then apologise and listen again. Turn after turn failing means the providers
    # are down for good: the session ends, everything persisted (end reason ``fatal_error``).
    Edge(
        Trigger.REPLY_FAILED,
        State.THINKING,
        None,
        (Guard.IS_CURRENT_TURN, Guard.MAY_RETRY),
        after=(Action.RETRY_REPLY,),
    ),
    *(
        edge
        for source in (State.THINKING, State.SPEAKING)
        for edge in (
            Edge(
                Trigger.REPLY_FAILED,
                source,
                State.LISTENING,
                (Guard.IS_CURRENT_TURN, Guard.MAY_APOLOGISE),
                after=(Action.APOLOGISE,),
            ),
            Edge(
                Trigger.REPLY_FAILED,
                source,
                State.PERSISTING,
                _TURN,
                before=(Action.NOTE_END_REASON,),
            ),
        )
    ),
    Edge(Trigger.REPLY_FAILED, State.GREETING, State.LISTENING, _TURN),
    Edge(
        Trigger.SILENCE_TIMEOUT,
        State.LISTENING,
        State.PERSISTING,
        _TURN,
        before=(Action.NOTE_END_REASON,),
    ),
    # Tool calls belong to a reply but outlive a barge-in (livekit lets them finish): visible,
    # recorded, never a state of their own. A handoff to another agent keeps the lifecycle.
    *(Edge(Trigger.TOOL_STARTED, source, None) for source in TOOL_STATES),
    *(
        Edge(Trigger.TOOL_FINISHED, source, None, before=(Action.RECORD_TOOL,))
        for source in TOOL_STATES
    ),
    *(
        Edge(Trigger.HANDED_OFF, source, None, before=(Action.RECORD_HANDOFF,))
        for source in TOOL_STATES
    ),
    # A caller whose connection drops (a mobile handover, a SIP re-INVITE) is waited for: the
    # call is held where it is, and only the grace period running out ends it
    # (``participant_left``); rejoining in time continues the same call.
    *(Edge(Trigger.CALLER_DROPPED, source, None) for source in LIVE_STATES),
    *(Edge(Trigger.CALLER_RETURNED, source, None) for source in LIVE_STATES),
    # What the agent says outside a reply (an apology, a filler, the farewell, what an agent
    # handed the call says on entering, a ``say`` from a tool, a hook or a timer) joins the
    # record once heard, wherever the session now is: it is no user turn and answers none, so
    # the state stays (the caller's next turn is taken from listening as ever).
    *(
        Edge(Trigger.SPOKE, source, None, before=(Action.RECORD_SPEECH,))
        for source in (*LIVE_STATES, State.PERSISTING)
    ),
    *_ending_edges(),
    Edge(Trigger.PERSISTED, State.PERSISTING, State.EXITING),
    # A flush that cannot even start must not leave the session stuck in persisting: whatever
    # was not delivered stays in the spool for the next process.
    Edge(Trigger.FATAL_ERROR, State.PERSISTING, State.EXITING),
)
