"""The record of every transition a session took, exportable as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from voicefsm.lifecycle.states import State, Trigger


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One accepted transition. ``t`` is monotonic seconds since the timeline began."""

    t: float
    source: State
    dest: State
    trigger: Trigger
    turn: int
    #: What else the trigger said: a tool's name and outcome, a handoff's agents.
    detail: str | None = None

    def as_json(self) -> dict[str, object]:
        """The wire shape: ``{"t", "from", "to", "trigger", "turn"}``, and ``"detail"`` when
        there is one."""
        record: dict[str, object] = {
            "t": round(self.t, 6),
            "from": self.source.value,
            "to": self.dest.value,
            "trigger": self.trigger.value,
            "turn": self.turn,
        }
        if self.detail is not None:
            record["detail"] = self.detail
        return record


class Timeline:
    """Append-only list of transitions; recording is an O(1) append with no I/O."""

    __slots__ = ("_entries", "origin")

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self._entries: list[TimelineEntry] = []

    def record(
        self,
        at: float,
        source: State,
        dest: State,
        trigger: Trigger,
        turn: int,
        *,
        detail: str | None = None,
    ) -> None:
        self._entries.append(TimelineEntry(at - self.origin, source, dest, trigger, turn, detail))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[TimelineEntry]:
        return iter(self._entries)

    def __getitem__(self, index: int) -> TimelineEntry:
        return self._entries[index]

    def to_jsonl(self) -> str:
        """One JSON object per line, in the order the transitions happened."""
        return "".join(
            json.dumps(entry.as_json(), separators=(",", ":")) + "\n" for entry in self._entries
        )
