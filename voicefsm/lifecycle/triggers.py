"""What each trigger carries: one frozen dataclass per trigger, so every call site is typed.

Fire one with :meth:`Lifecycle.fire <voicefsm.lifecycle.machine.Lifecycle.fire>`::

    lifecycle.fire(UserTurnCompleted("Is the pool open?"))
    lifecycle.fire(ReplyStarted(turn=lifecycle.turn))

Completions of long work (a speech, a reply, the silence timer) carry the ``turn`` they were
started for; the ``is_current_turn`` guard refuses one from another turn as stale. Guards and
actions receive the dataclass itself, never loose keyword arguments.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import ClassVar

from voicefsm.lifecycle.states import Trigger


@dataclass(frozen=True, slots=True)
class TriggerData:
    """Base of every trigger's data; ``trigger`` names the trigger it fires."""

    trigger: ClassVar[Trigger]

    @property
    def detail(self) -> str | None:
        """What the timeline shows beside the trigger (a tool's name, a handoff's agents)."""
        return None


@dataclass(frozen=True, slots=True)
class Completion(TriggerData):
    """The end (or start) of long work started for ``turn``."""

    turn: int


@dataclass(frozen=True, slots=True)
class SpeechCompletion(Completion):
    """A speech ended; ``spoken`` is what was actually heard (partial when cut off)."""

    spoken: str = ""


@dataclass(frozen=True, slots=True)
class Joined(TriggerData):
    """In the room with the participant, the pipeline running."""

    trigger: ClassVar[Trigger] = Trigger.JOINED


@dataclass(frozen=True, slots=True)
class ContextLoaded(TriggerData):
    """Context is loaded and the conversation is new (or its history could not be read)."""

    trigger: ClassVar[Trigger] = Trigger.CONTEXT_LOADED


@dataclass(frozen=True, slots=True)
class Resumed(TriggerData):
    """Context is loaded and the conversation has history: no first-time greeting."""

    trigger: ClassVar[Trigger] = Trigger.RESUMED


@dataclass(frozen=True, slots=True)
class Greeted(SpeechCompletion):
    """The greeting played to its end."""

    trigger: ClassVar[Trigger] = Trigger.GREETED


class TurnSource:
    """Where a user turn came from, as the effects that answer it need to know.

    The lifecycle only passes it on. The engine's kinds (:mod:`voicefsm.engine.turn_sources`)
    carry livekit's objects, which this package never imports: the message livekit completed
    (so the reply keeps its id and speech metrics), or the reply livekit already started.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UserTurnCompleted(TriggerData):
    """The user finished a turn, spoken or typed.

    ``source`` says where it came from (``None``: plain text, as a test or a replay fires it).
    ``spoken`` is what had been heard of a speech this turn cuts off (typed over a reply).
    """

    trigger: ClassVar[Trigger] = Trigger.USER_TURN_COMPLETED
    text: str
    source: TurnSource | None = None
    spoken: str = ""


@dataclass(frozen=True, slots=True)
class ReplyStarted(Completion):
    """The reply's first audio (or text) is out."""

    trigger: ClassVar[Trigger] = Trigger.REPLY_STARTED


@dataclass(frozen=True, slots=True)
class ReplyFinished(SpeechCompletion):
    """The reply played to its end."""

    trigger: ClassVar[Trigger] = Trigger.REPLY_FINISHED


@dataclass(frozen=True, slots=True)
class Interrupted(SpeechCompletion):
    """The user cut the agent off (barge-in)."""

    trigger: ClassVar[Trigger] = Trigger.INTERRUPTED


@dataclass(frozen=True, slots=True)
class ReplyFailed(SpeechCompletion):
    """The reply failed: a provider error, a timeout, a stall or an empty answer."""

    trigger: ClassVar[Trigger] = Trigger.REPLY_FAILED


@dataclass(frozen=True, slots=True)
class SilenceTimeout(Completion):
    """The user and the agent were both silent for the silence timeout."""

    trigger: ClassVar[Trigger] = Trigger.SILENCE_TIMEOUT


class ToolOutcome(StrEnum):
    """How a tool call ended."""

    OK = "ok"  # returned a result, and the model replies to it
    NO_REPLY = "no_reply"  # returned None (livekit's "no reply wanted"): nothing more is said
    ERROR = "error"  # raised: the model is told, and replies
    TIMEOUT = "timeout"  # ran past its deadline: stopped (or abandoned), and the model is told
    STALLED = "stalled"  # blocked the event loop (every call of the process froze meanwhile)
    CANCELLED = "cancelled"  # cancelled (a tool flagged cancellable, the session closing)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A finished tool call, as recorded: what was called with what, and what came of it.

    ``arguments`` is the model's JSON text and ``result`` what the model was told, both as
    given (the recorder caps them); ``turn`` is the user turn whose reply called it.
    """

    call_id: str
    name: str
    turn: int
    arguments: str
    result: str
    outcome: ToolOutcome
    duration_s: float
    interrupted: bool = False  # the user barged in while it ran (it ran to its end anyway)


@dataclass(frozen=True, slots=True)
class ToolStarted(TriggerData):
    """A reply called a tool (livekit runs it; the reply waits for it)."""

    trigger: ClassVar[Trigger] = Trigger.TOOL_STARTED
    name: str
    call_id: str = ""

    @property
    def detail(self) -> str | None:
        return self.name if isinstance(self.name, str) else None


@dataclass(frozen=True, slots=True)
class ToolFinished(TriggerData):
    """A tool call ended (see :class:`ToolCall`)."""

    trigger: ClassVar[Trigger] = Trigger.TOOL_FINISHED
    call: ToolCall

    @property
    def detail(self) -> str | None:
        call = self.call
        return f"{call.name}: {call.outcome.value}" if isinstance(call, ToolCall) else None


@dataclass(frozen=True, slots=True)
class HandedOff(TriggerData):
    """Another agent took over the call (a tool returned it, or an ``AgentTask`` started or
    completed); the lifecycle, the history and the record go on."""

    trigger: ClassVar[Trigger] = Trigger.HANDED_OFF
    from_agent: str
    to_agent: str

    @property
    def detail(self) -> str | None:
        return f"{self.from_agent} -> {self.to_agent}"  # f-strings take any value


@dataclass(frozen=True, slots=True)
class CallerDropped(TriggerData):
    """The caller's connection dropped: the call is held for ``grace_s`` for them to rejoin;
    only if they do not does it end (``ParticipantLeft``)."""

    trigger: ClassVar[Trigger] = Trigger.CALLER_DROPPED
    grace_s: float = 0.0

    @property
    def detail(self) -> str | None:
        return f"held {self.grace_s} s"  # f-strings take any value


@dataclass(frozen=True, slots=True)
class CallerReturned(TriggerData):
    """The caller rejoined within the grace period, after ``away_s``: the call goes on."""

    trigger: ClassVar[Trigger] = Trigger.CALLER_RETURNED
    away_s: float = 0.0

    @property
    def detail(self) -> str | None:
        return f"away {self.away_s} s"


@dataclass(frozen=True, slots=True)
class Spoke(TriggerData):
    """The agent said something outside a reply (an apology, the farewell, what an agent says
    as it takes over, a ``say`` from a tool, a hook or a timer), as heard; ``spoken`` is empty
    when it was cut off before a word."""

    trigger: ClassVar[Trigger] = Trigger.SPOKE
    spoken: str
    interrupted: bool = False

    @property
    def detail(self) -> str | None:
        if self.interrupted is not True:
            return None
        return "cut off" if self.spoken else "cut off before a word"


@dataclass(frozen=True, slots=True)
class HangUp(TriggerData):
    """The caller hung up (or the application ended the call)."""

    trigger: ClassVar[Trigger] = Trigger.HANG_UP


@dataclass(frozen=True, slots=True)
class ParticipantLeft(TriggerData):
    """The caller left the room."""

    trigger: ClassVar[Trigger] = Trigger.PARTICIPANT_LEFT


@dataclass(frozen=True, slots=True)
class FatalError(TriggerData):
    """Something the session cannot recover from; ``cause`` is a short, static name."""

    trigger: ClassVar[Trigger] = Trigger.FATAL_ERROR
    cause: str = ""


@dataclass(frozen=True, slots=True)
class EndCall(TriggerData):
    """The agent ended the call itself (``VoiceAgent.end_call``), its last reply heard."""

    trigger: ClassVar[Trigger] = Trigger.END_CALL


@dataclass(frozen=True, slots=True)
class Persisted(TriggerData):
    """The summary is written and the outbox flushed; ``pending`` writes stay spooled."""

    trigger: ClassVar[Trigger] = Trigger.PERSISTED
    pending: int = 0


TRIGGER_DATA: dict[Trigger, type[TriggerData]] = {
    cls.trigger: cls
    for cls in (
        Joined,
        ContextLoaded,
        Resumed,
        Greeted,
        UserTurnCompleted,
        ReplyStarted,
        ReplyFinished,
        Interrupted,
        ReplyFailed,
        SilenceTimeout,
        ToolStarted,
        ToolFinished,
        HandedOff,
        CallerDropped,
        CallerReturned,
        Spoke,
        HangUp,
        ParticipantLeft,
        FatalError,
        EndCall,
        Persisted,
    )
}


def data_for(trigger: Trigger, raw: dict[str, object]) -> TriggerData:
    """``trigger``'s data built from untyped fields (replays, fuzzing, table-driven tests).

    Fields the trigger does not have are ignored; fields it lacks are ``None``, which every
    guard refuses. Values are not converted: a guard that checks a type checks it here too.
    """
    cls = TRIGGER_DATA[trigger]
    values = {
        f.name: raw.get(f.name, None if f.default is MISSING else f.default) for f in fields(cls)
    }
    return cls(**values)
