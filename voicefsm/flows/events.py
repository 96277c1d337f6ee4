"""What a running flow reports: each step's result, each node change, and the path taken."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import JsonValue, ValidationError

_LOG = logging.getLogger("voicefsm.flows")

#: Who moved the flow: the model (through a generated tool), the agent's code, or an automatic
#: edge whose guards came to hold.
Mover = Literal["model", "code", "auto"]


class StepRefusal(StrEnum):
    """Why a step was not taken (safe as a metric label: a fixed set)."""

    UNKNOWN = "unknown"  # no such edge or field
    ILLEGAL = "illegal"  # the edge leaves another node; the field is not collected here
    GUARDED = "guarded"  # a guard said no
    INVALID = "invalid"  # the value does not fit the data model
    FINISHED = "finished"  # the flow is in a final node
    FAILED = "failed"  # a guard raised; a task's result did not fit


class RefusalKey(NamedTuple):
    """Key of :attr:`Flow.refusals <voicefsm.flows.Flow.refusals>`: declared names only."""

    refusal: StepRefusal
    node: str
    name: str


@dataclass(frozen=True, slots=True)
class PathStep:
    """One edge taken: the ``step``-th node change of the conversation, at ``at`` (wall-clock
    seconds, so that a path survives the process that recorded it)."""

    step: int
    edge: str
    source: str
    dest: str
    by: Mover
    at: float

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "step": self.step,
            "edge": self.edge,
            "from": self.source,
            "to": self.dest,
            "by": self.by,
            "at": round(self.at, 3),
        }


@dataclass(frozen=True, slots=True)
class NodeChange:
    """The flow moved: what listeners (the engine's timeline, outbox, metrics) are told.

    ``dwell_s`` is how long the flow stayed in ``source`` (monotonic seconds); ``data`` is the
    collected data after the move, as JSON.
    """

    flow: str
    step: int
    edge: str
    source: str
    dest: str
    by: Mover
    at: float
    dwell_s: float
    data: Mapping[str, JsonValue]

    @property
    def path_step(self) -> PathStep:
        return PathStep(self.step, self.edge, self.source, self.dest, self.by, self.at)

    def as_json(self) -> dict[str, JsonValue]:
        """The wire shape: the path step's keys, then ``flow``, ``dwell_s`` and ``data``."""
        return {
            **self.path_step.as_json(),
            "flow": self.flow,
            "dwell_s": round(self.dwell_s, 6),
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class FlowStep:
    """The result of taking an edge, setting a field or storing a task's result. Never raised:
    a refusal is a value, with ``reason`` written for the model to read.

    ``changes`` holds the node changes the step made: the edge taken, or an automatic edge
    that a field set made possible.
    """

    accepted: bool
    node: str
    reason: str = ""
    refusal: StepRefusal | None = None
    changes: tuple[NodeChange, ...] = ()

    @property
    def moved(self) -> bool:
        return bool(self.changes)


def describe_error(exc: ValidationError) -> str:
    """A pydantic refusal as one line for the model: where, and what is wrong (not the input)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)[:400]


class ChangeListeners:
    """Who is told of node changes, and the changes not told yet: each change reaches every
    listener, in the order the changes happened, even when a listener moves the flow again
    (that change waits for the current one to be told). One that raises is logged and dropped."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[NodeChange], None]] = []
        self._pending: deque[NodeChange] = deque()
        self._telling = False

    def add(self, listener: Callable[[NodeChange], None]) -> None:
        self._listeners.append(listener)

    def remove(self, listener: Callable[[NodeChange], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def tell(self, change: NodeChange) -> None:
        self._pending.append(change)
        if self._telling:
            return
        self._telling = True
        try:
            while self._pending:
                told = self._pending.popleft()
                for listener in tuple(self._listeners):
                    try:
                        listener(told)
                    except Exception:
                        _LOG.exception("flow listener failed; removed")
                        self.remove(listener)
        finally:
            self._telling = False
