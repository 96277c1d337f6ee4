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

Record = dict[str, Any]  # {"t", "from", "to", "trigger", "turn"}; a node change: "kind": "node"


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


@dataclass(frozen=True, slots=True)
class NodeStay:
    """One continuous stay of a flow in a node, from ``start`` to ``end`` seconds into the
    session."""

    flow: str
    node: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def is_node(record: Record) -> bool:
    """A flow's node change (``voicefsm.engine.flow_watch.NodeEntry``), not a transition."""
    return record.get("kind") == "node"


def split(records: Iterable[Record]) -> tuple[list[Record], list[Record]]:
    """The lifecycle's transitions and the flows' node changes, each in order."""
    transitions: list[Record] = []
    nodes: list[Record] = []
    for record in records:
        (nodes if is_node(record) else transitions).append(record)
    return transitions, nodes


def node_stays(nodes: Sequence[Record], *, end: float) -> list[NodeStay]:
    """Each flow's nodes in order, each with its span of time: the first from 0 (where the
    flow was when the session began), the last until ``end``."""
    result: list[NodeStay] = []
    current: dict[str, tuple[str, float]] = {}
    for record in nodes:
        flow, t = str(record["flow"]), float(record["t"])
        node, since = current.get(flow, (str(record["from"]), 0.0))
        result.append(NodeStay(flow, node, since, t))
        current[flow] = (str(record["to"]), t)
    result += [
        NodeStay(flow, node, since, max(since, end)) for flow, (node, since) in current.items()
    ]
    return sorted(result, key=lambda stay: (stay.flow, stay.start))


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
        needs = {"t", "from", "to", "trigger"}
        if isinstance(record, dict) and is_node(record):
            needs = {"t", "flow", "from", "to"}
        if not isinstance(record, dict) or not needs <= set(record):
            msg = (
                f"{path}:{number}: a timeline record needs t, from, to and trigger "
                "(a node change: kind node, t, flow, from and to)"
            )
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
