"""The interface through which the lifecycle machine acts on the world.

The machine never does slow work itself. Each callback calls one of these methods, which must
*start* the work and return at once (a task, a speech handle, an in-memory append, a hand-off to the
outbox). When long work completes, whoever runs it fires the matching trigger back into the machine,
carrying the turn it was started for, so that a completion from an older turn is refused.

Production code implements this over livekit's ``AgentSession``, the in-memory session state and
the outbox; tests use :class:`voicefsm.testing.RecordingEffects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from voicefsm.lifecycle.states import EndReason

Role = Literal["user", "assistant"]


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
        """Read room/participant metadata and fetch backend context under a deadline.

        Fire ``context_loaded`` (a new conversation) or ``resumed`` (one with history) when done;
        a failure degrades to ``context_loaded`` with what is known.
        """

    def start_greeting(self, turn: int) -> None:
        """Speak the (personalised) greeting; fire ``greeted(turn=, text=)`` when it is played."""

    def listen(self, turn: int) -> None:
        """The user has the floor: arm the silence timer, which fires ``silence_timeout(turn=)``."""

    def start_reply(self, turn: int, user_text: str, attempt: int) -> None:
        """Generate and speak the reply to ``user_text``.

        Fire ``reply_started(turn=)`` at the first audio, then ``reply_finished(turn=, text=)``, or
        ``reply_failed(turn=, error=)``. ``attempt`` counts from 1; a retry repeats the same turn.
        """

    def interrupt(self, turn: int) -> None:
        """Stop the agent's speech (or its generation) for ``turn`` now."""

    def apologise(self, turn: int) -> None:
        """Tell the user the reply failed and that they can go on."""

    def append_history(self, utterance: Utterance) -> None:
        """Append to the in-memory conversation history (O(1), no I/O)."""

    def enqueue_write(self, utterance: Utterance) -> None:
        """Hand the utterance to the durable outbox for the backend (non-blocking)."""

    def say_farewell(self) -> None:
        """Say goodbye; only asked for when the user is presumably still listening."""

    def flush(self, reason: EndReason) -> None:
        """Write the session summary and flush the outbox under the shutdown deadline.

        Fire ``persisted`` when everything is delivered or the deadline has passed; what is left
        stays spooled for the next process.
        """

    def shut_down(self, reason: EndReason) -> None:
        """Close the session and release the job. Terminal."""
