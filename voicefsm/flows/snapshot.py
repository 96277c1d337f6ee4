"""A running flow as JSON, and back: what the engine stores at every node change and restores
when a call resumes.

The shape, version 1::

    {"flow": "TableFlow", "version": 1, "node": "confirm", "steps": 3,
     "data": {"party_size": 4},
     "path": [{"step": 1, "edge": "go_to_collect", "from": "greet", "to": "collect",
               "by": "model", "at": 1767225600.123}, ...]}

``path`` keeps the latest steps only (``Flow.snapshot_path_limit``); ``steps`` counts them all.
A snapshot comes back from storage, so restoring checks everything before changing anything:
another flow's snapshot, an unknown node, data the flow's model refuses, a malformed document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from voicefsm.errors import FlowRestoreError
from voicefsm.flows.events import PathStep

if TYPE_CHECKING:
    from voicefsm.flows.definition import FlowDefinition

SNAPSHOT_VERSION = 1
_Name = Annotated[str, Field(min_length=1, max_length=64)]


class _StoredStep(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    step: int = Field(ge=1)
    edge: _Name
    source: _Name = Field(alias="from")
    dest: _Name = Field(alias="to")
    by: Literal["model", "code", "auto"]
    at: float = Field(allow_inf_nan=False)


class _StoredFlow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow: _Name
    version: Literal[1]
    node: _Name
    steps: int = Field(ge=0)
    data: dict[str, JsonValue]
    path: list[_StoredStep] = Field(max_length=1000)


def snapshot_of(
    definition: FlowDefinition,
    node: str,
    steps: int,
    data: BaseModel,
    path: Sequence[PathStep],
) -> dict[str, JsonValue]:
    """A flow of ``definition`` at ``node`` (after ``steps`` steps, with ``data`` collected and
    ``path`` the latest steps to keep) as a version-1 snapshot."""
    return {
        "flow": definition.name,
        "version": SNAPSHOT_VERSION,
        "node": node,
        "steps": steps,
        "data": data.model_dump(mode="json", include=set(data.model_fields_set)),
        "path": [step.as_json() for step in path],
    }


def _problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def restored(
    definition: FlowDefinition, snapshot: Mapping[str, object]
) -> tuple[str, BaseModel, tuple[PathStep, ...], int]:
    """The node, data, path and step count a snapshot holds, checked against ``definition``.
    Raises :class:`FlowRestoreError` naming what does not fit."""
    name = definition.name
    try:
        stored = _StoredFlow.model_validate(snapshot)
    except ValidationError as exc:
        msg = f"flow {name}: not a flow snapshot ({_problem(exc)})"
        raise FlowRestoreError(msg) from None
    if stored.flow != name:
        msg = f"flow {name}: the snapshot is of flow {stored.flow}"
        raise FlowRestoreError(msg)
    if stored.node not in {node.name for node in definition.nodes}:
        msg = f"flow {name}: the snapshot is at node {stored.node}, which the flow does not have"
        raise FlowRestoreError(msg)
    unknown = sorted(set(stored.data) - set(definition.fields))
    if unknown:
        msg = f"flow {name}: the snapshot's data has fields the flow does not: {', '.join(unknown)}"
        raise FlowRestoreError(msg)
    try:
        data = definition.data_model.model_validate_json(json.dumps(stored.data))
    except ValidationError as exc:
        msg = f"flow {name}: the snapshot's data does not fit {definition.data_model.__name__} "
        raise FlowRestoreError(msg + f"({_problem(exc)})") from None
    path = tuple(
        PathStep(step.step, step.edge, step.source, step.dest, step.by, step.at)
        for step in stored.path
    )
    if path and path[-1].step > stored.steps:
        msg = f"flow {name}: the snapshot's path goes past its step count"
        raise FlowRestoreError(msg)
    return stored.node, data, path, stored.steps
