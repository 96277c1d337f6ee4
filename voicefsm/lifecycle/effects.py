"""The interface through which the lifecycle machine acts on the world.

The machine never does slow work itself. Each callback calls one of these methods, which must
*start* the work and return at once (a task, a speech handle, an in-memory append, a hand-off to
the outbox). When long work completes, whoever runs it fires the matching trigger back into the
machine with the turn it was started for (see :mod:`voicefsm.lifecycle.triggers`), so that a
completion from an older turn is refused.

Production code implements this over livekit's ``AgentSession``, the in-memory session record
and the outbox (``voicefsm.engine``); tests use :class:`voicefsm.testing.RecordingEffects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voicefsm.lifecycle.states import EndReason, Role
from voicefsm.lifecycle.triggers import HandedOff, ToolCall, UserTurnCompleted


@dataclass(frozen=True, slots=True)
class Utterance:
    """One message of the conversation, as it was actually said.

    ``interrupted`` is true when the agent was cut off; ``text`` is then the part it really spoke.
    """

    role: Role
    text: str
    turn: int
    interrupted: bool = False


class Effects(Protocol):
    """What the lifecycle asks for. Every method returns at once; none may block or await I/O."""

    def load_context(self) -> None:
        """Fetch the conversation's recent messages under a deadline.

        Fire ``Resumed()`` when there is history, else ``ContextLoaded()``; a backend that is
        slow or down degrades to ``ContextLoaded()``.
        """

    def start_greeting(self, turn: int) -> None:
        """Speak the greeting; fire ``Greeted(turn, spoken)`` when it has played,
        ``Interrupted(turn, spoken)`` when the user cut it off, ``ReplyFailed(turn, spoken)``
        when it could not be spoken."""

    def listen(self, turn: int) -> None:
        """The user has the floor. Nothing to start: turns arrive as ``UserTurnCompleted``, and
        livekit's ``user_away_timeout`` reports silence, fired as ``SilenceTimeout(turn)``."""

    def start_reply(self, turn: int, request: UserTurnCompleted, attempt: int) -> None:
        """Generate and speak the reply to ``request`` (``attempt`` counts from 1; a retry
        answers the same turn).

        Fire ``ReplyStarted(turn)`` at its first audio, then ``ReplyFinished(turn, spoken)``,
        or ``Interrupted(turn, spoken)`` / ``ReplyFailed(turn, spoken)``.
        """

    def interrupt(self, turn: int) -> None:
        """Stop the agent's speech (or its generation) for ``turn`` now."""

    def apologise(self, turn: int) -> None:
        """Tell the user the reply failed and that they can go on; fire
        ``Spoke(spoken, interrupted)`` once it was heard."""

    def record(self, utterance: Utterance) -> None:
        """Append to the in-memory history and hand its write to the outbox (O(1), no I/O)."""

    def record_tool(self, call: ToolCall) -> None:
        """Hand a finished tool call's record to the outbox (non-blocking)."""

    def record_handoff(self, handoff: HandedOff) -> None:
        """Hand a handoff's record to the outbox (non-blocking)."""

    def say_farewell(self) -> None:
        """Say goodbye; only asked for when the user is presumably still listening. The flush
        waits for it and fires ``Spoke(spoken, interrupted)`` before writing the summary."""

    def flush(self, reason: EndReason) -> None:
        """Write the session summary and flush the outbox under the flush deadline.

        Fire ``Persisted(pending)`` when everything is delivered or the deadline has passed;
        what is left stays spooled for the next process.
        """

    def shut_down(self, reason: EndReason) -> None:
        """Close the session and release the job. Terminal."""
