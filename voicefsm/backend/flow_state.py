"""The contract's flow state (v1): where a conversation's flow is, written at every node change
and read back when a call resumes.

A session writes a :class:`FlowStateEvent` through the outbox each time a flow moves (one
idempotency key per change): the change itself (edge, nodes, who moved it, the dwell in the
node left) and the flow's whole state after it (:meth:`voicefsm.flows.Flow.snapshot`); and after
a tool call that collected data without moving it. The backend keeps the latest state of each
flow of the conversation (the highest ``step``, then the latest ``at``: a replay or a late
delivery never moves it back) and returns them (:class:`FlowStates`), so that a call that comes
back restores them. The session summary carries each flow's end state and node
changes (:class:`FlowSummary`).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from voicefsm.backend.fields import NO_NUL, EventFields, Seconds
from voicefsm.untrusted import capped_json

#: The most a flow's state may weigh, as compact JSON (its data and its latest path steps).
MAX_FLOW_STATE_BYTES = 65_536
#: A flow's, a node's or an edge's name.
FlowName = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
FlowMover = Literal["model", "code", "auto"]
Step = Annotated[int, Field(ge=1)]


class FlowStateEvent(EventFields):
    """A flow moved: ``edge`` from ``from_node`` to ``to_node``, the ``step``-th node change
    of the conversation, after ``dwell_s`` in the node left. Without ``edge`` (and its
    ``from_node``, ``by``, ``dwell_s``), the flow stayed at ``to_node`` and collected data
    there (``step``: the node changes so far). ``state`` is the flow's whole state after it
    (a snapshot: flow, version, node, steps, data, path)."""

    kind: Literal["flow_state"] = "flow_state"
    flow: FlowName
    step: Annotated[int, Field(ge=0)]
    edge: FlowName | None = None
    from_node: FlowName | None = None
    to_node: FlowName
    by: FlowMover | None = None
    dwell_s: Seconds | None = None
    state: dict[str, JsonValue]

    @field_validator("state")
    @classmethod
    def _storable(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        capped_json(value, limit=MAX_FLOW_STATE_BYTES)
        return value


def state_problem(state: dict[str, JsonValue]) -> str | None:
    """Why the contract would refuse ``state`` (a flow's snapshot), or None: what a session
    checks before it writes one, cheaply (one C-speed encoding; only the collected data, the
    one part not made of declared names and numbers, is searched for NUL)."""
    try:
        text = json.dumps(state, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return "the state is not finite JSON"
    if len(text.encode()) > MAX_FLOW_STATE_BYTES:
        return f"the state is over {MAX_FLOW_STATE_BYTES} bytes"
    try:
        capped_json(state.get("data"), limit=MAX_FLOW_STATE_BYTES)
    except ValueError as exc:
        return str(exc)
    return None


class NodeRecord(BaseModel):
    """A node change on the session's timeline: ``t`` seconds into the session (the lifecycle
    timeline's clock), in user turn ``turn``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: Seconds
    step: Step
    edge: FlowName
    from_node: FlowName
    to_node: FlowName
    by: FlowMover
    turn: Annotated[int, Field(ge=0)]
    dwell_s: Seconds


class FlowSummary(BaseModel):
    """A flow as the session left it: its node, the data collected, the latest path steps and
    every node change of this session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: FlowName
    node: FlowName
    steps: Annotated[int, Field(ge=0)]
    data: dict[str, JsonValue]
    path: Annotated[list[dict[str, JsonValue]], Field(max_length=1000)] = []
    nodes: Annotated[list[NodeRecord], Field(max_length=10_000)] = []

    @field_validator("data")
    @classmethod
    def _storable(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        capped_json(value, limit=MAX_FLOW_STATE_BYTES)
        return value


class FlowStates(BaseModel):
    """The latest state of each flow of a conversation (none for one the backend does not
    know, or that never ran a flow)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    conversation_id: str
    flows: list[dict[str, JsonValue]]
