"""Figures derived from a session's timeline: where the time went, state by state and turn by turn.

Everything here is computed from timeline records (the JSON lines a session exports), so the
same numbers come out of a live lifecycle, a simulate report and a file on disk.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Record = dict[str, Any]  # {"t", "from", "to", "trigger", "turn"}


@dataclass(frozen=True, slots=True)
class Stay:
    """One continuous stay in a state, from ``start`` to ``end`` seconds into the session."""

    state: str
    start: float
    end: float
    turn: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class TurnFigures:
    """Time the lifecycle spent on one user turn: thinking (end of user turn to first audio)
    and speaking; and whether the user cut the reply off."""

    turn: int
    thinking_s: float
    speaking_s: float | None
    interrupted: bool


def read_jsonl(path: Path) -> list[Record]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            msg = f"{path}:{number}: not a JSON object"
            raise ValueError(msg) from None
        if not isinstance(record, dict) or not {"t", "from", "to", "trigger"} <= set(record):
            msg = f"{path}:{number}: a timeline record needs t, from, to and trigger"
            raise ValueError(msg)
        records.append(record)
    return records


def stays(records: Sequence[Record], *, end: float | None = None) -> list[Stay]:
    """The states in order, each with its span of time. The first state starts at 0; the last
    one ends at ``end`` (default: when it was entered, i.e. zero length for ``exiting``)."""
    result: list[Stay] = []
    state, since, turn = (records[0]["from"], 0.0, 0) if records else ("joining", 0.0, 0)
    for record in records:
        t = float(record["t"])
        result.append(Stay(state, since, t, turn))
        state, since, turn = record["to"], t, int(record.get("turn", turn))
    result.append(Stay(state, since, max(since, end if end is not None else since), turn))
    return result


def dwell_by_state(records: Sequence[Record], *, end: float | None = None) -> dict[str, float]:
    totals: dict[str, float] = {}
    for stay in stays(records, end=end):
        totals[stay.state] = totals.get(stay.state, 0.0) + stay.seconds
    return totals


def transition_counts(records: Iterable[Record]) -> Counter[tuple[str, str, str]]:
    return Counter((r["from"], r["trigger"], r["to"]) for r in records)


def turn_figures(records: Sequence[Record]) -> list[TurnFigures]:
    """Per user turn: how long it was thought about, how long the reply played."""
    figures: dict[int, dict[str, Any]] = {}
    for stay in stays(records):
        if stay.state == "thinking":
            entry = figures.setdefault(stay.turn, {"thinking_s": 0.0, "speaking_s": None})
            entry["thinking_s"] += stay.seconds
        elif stay.state == "speaking" and stay.turn in figures:
            figures[stay.turn]["speaking_s"] = (
                figures[stay.turn]["speaking_s"] or 0.0
            ) + stay.seconds
    cut = {int(r.get("turn", 0)) for r in records if r["trigger"] == "interrupted"}
    return [
        TurnFigures(turn, values["thinking_s"], values["speaking_s"], turn in cut)
        for turn, values in sorted(figures.items())
    ]
