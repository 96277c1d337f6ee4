"""The names of the lifecycle: its states, its triggers, why a session ended, who spoke."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a voice session is in its life. The mission fixes exactly these eight."""

    JOINING = "joining"
    LOADING_CONTEXT = "loading_context"
    GREETING = "greeting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PERSISTING = "persisting"
    EXITING = "exiting"


class Trigger(StrEnum):
    """What can happen to a session. Completions of long work carry the turn they belong to."""

    JOINED = "joined"
    CONTEXT_LOADED = "context_loaded"
    RESUMED = "resumed"
    GREETED = "greeted"
    USER_TURN_COMPLETED = "user_turn_completed"
    REPLY_STARTED = "reply_started"
    REPLY_FINISHED = "reply_finished"
    INTERRUPTED = "interrupted"
    REPLY_FAILED = "reply_failed"
    SILENCE_TIMEOUT = "silence_timeout"
    TOOL_STARTED = "tool_started"
    TOOL_FINISHED = "tool_finished"
    HANDED_OFF = "handed_off"
    CALLER_DROPPED = "caller_dropped"
    CALLER_RETURNED = "caller_returned"
    SPOKE = "spoke"
    HANG_UP = "hang_up"
    PARTICIPANT_LEFT = "participant_left"
    FATAL_ERROR = "fatal_error"
    END_CALL = "end_call"
    PERSISTED = "persisted"


class EndReason(StrEnum):
    """Why a session went to ``persisting``: the trigger that ended it."""

    HANG_UP = "hang_up"
    PARTICIPANT_LEFT = "participant_left"
    SILENCE_TIMEOUT = "silence_timeout"
    FATAL_ERROR = "fatal_error"
    END_CALL = "end_call"  # the agent ended the call itself


class Role(StrEnum):
    """Who said an utterance."""

    USER = "user"
    ASSISTANT = "assistant"


INITIAL_STATE = State.JOINING
FINAL_STATE = State.EXITING

#: States in which the conversation is still going on; any of them can be ended.
LIVE_STATES: tuple[State, ...] = (
    State.JOINING,
    State.LOADING_CONTEXT,
    State.GREETING,
    State.LISTENING,
    State.THINKING,
    State.SPEAKING,
)

#: Live states in which a tool can be running: during a reply, and after a barge-in stopped the
#: reply but not its tool (livekit never cancels a running tool).
TOOL_STATES: tuple[State, ...] = (State.LISTENING, State.THINKING, State.SPEAKING)

#: Live states in which the agent owns a speech (being generated or played) that must be stopped
#: when the state is left for any reason other than the speech's own completion.
SPEECH_STATES: tuple[State, ...] = (State.GREETING, State.THINKING, State.SPEAKING)

#: Triggers that end a live session; each becomes the session's :class:`EndReason`.
ENDING_TRIGGERS: tuple[Trigger, ...] = (
    Trigger.HANG_UP,
    Trigger.PARTICIPANT_LEFT,
    Trigger.FATAL_ERROR,
    Trigger.END_CALL,
)

#: Endings after which the user is presumably still on the line and deserves a goodbye.
FAREWELL_REASONS: frozenset[EndReason] = frozenset(
    {EndReason.HANG_UP, EndReason.SILENCE_TIMEOUT, EndReason.END_CALL}
)
