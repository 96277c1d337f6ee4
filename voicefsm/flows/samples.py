"""Data that lets an edge be taken, and data that makes its guards refuse it: what generated
tests restore a flow with, so that every edge is tested both ways without a model.

Values come from each field's ``examples`` (pydantic's ``Field(examples=[...])``), or else its
type and constraints (a ``Literal``'s members, an ``int``'s bounds, ``True`` and ``False``...);
data sets are tried field by field until one passes the edge's guards and one fails them. A
guard no sampled data satisfies is given its data by :func:`edge_cases`' ``examples``.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast

import annotated_types
from pydantic import BaseModel, TypeAdapter, ValidationError

from voicefsm.flows.definition import EdgeSpec, FlowDefinition
from voicefsm.flows.machine import Attempt
from voicefsm.flows.tools import without_none

_UNSET = object()
#: Data sets tried per edge at most (the fields' samples multiply).
SEARCH_LIMIT = 4096


def _numbers(metadata: list[Any], whole: bool) -> list[Any]:
    low: Any = None
    high: Any = None
    step = 1 if whole else 0.5
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low = cast("float", item.gt) + step
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high = cast("float", item.lt) - step
    low = 0 if low is None else low
    high = low + 10 if high is None else high
    middle = (low + high) // 2 if whole else (low + high) / 2
    return list(dict.fromkeys([low, high, middle]))


def sample_values(model: type[BaseModel], name: str) -> list[object]:
    """Values ``name`` can take in ``model``, valid by its type and constraints (maybe none)."""
    field = model.model_fields[name]
    base = without_none(field.annotation)
    candidates: list[object]
    if field.examples:
        candidates = list(field.examples)
    elif typing.get_origin(base) is typing.Literal:
        candidates = list(typing.get_args(base))
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        candidates = list(base)
    elif base is bool:
        candidates = [True, False]
    elif base is int or base is float:
        candidates = _numbers(field.metadata, whole=base is int)
    elif base is str:
        shortest = max([getattr(m, "min_length", 1) or 1 for m in field.metadata] or [1])
        candidates = ["a" * shortest]
    elif base is datetime.date:
        candidates = [datetime.date(2030, 1, 1)]
    else:
        candidates = []
    constrained: Any = Annotated[(base, *field.metadata)] if field.metadata else base
    adapter = TypeAdapter[object](constrained)
    valid = []
    for value in candidates:
        try:
            valid.append(adapter.validate_python(value))
        except ValidationError:
            continue
    return valid


@dataclass(frozen=True, slots=True)
class EdgeCase:
    """An edge with data to test it by: ``allowed`` lets it be taken, ``refused`` makes a guard
    say no (None: an unguarded edge, or no such data found: give it in ``examples``)."""

    edge: EdgeSpec
    allowed: Mapping[str, object] | None
    refused: Mapping[str, object] | None

    def __str__(self) -> str:
        return f"{self.edge.source}-{self.edge.name}-{self.edge.target}"


def _search(definition: FlowDefinition, edge: EdgeSpec) -> EdgeCase:
    if not edge.guards:
        return EdgeCase(edge, {}, None)
    model = definition.data_model
    choices = [[_UNSET, *sample_values(model, name)] for name in definition.fields]
    allowed: dict[str, object] | None = None
    refused: dict[str, object] | None = None
    for values in itertools.islice(itertools.product(*choices), SEARCH_LIMIT):
        data = {n: v for n, v in zip(definition.fields, values, strict=True) if v is not _UNSET}
        try:
            instance = model.model_validate(data)
        except ValidationError:
            continue
        collected = frozenset(n for n, v in data.items() if v is not None)
        if Attempt(edge, instance, collected).allowed():
            allowed = data if allowed is None else allowed
        else:
            refused = data if refused is None else refused
        if allowed is not None and refused is not None:
            break
    return EdgeCase(edge, allowed, refused)


def edge_cases(
    definition: FlowDefinition,
    examples: Mapping[str, tuple[Mapping[str, object] | None, Mapping[str, object] | None]]
    | None = None,
) -> tuple[EdgeCase, ...]:
    """Every edge of a flow, with data to take it and data to refuse it. ``examples`` gives
    ``(allowed, refused)`` data for edges by name, where the search would not find it."""
    given = dict(examples or {})
    cases = []
    for edge in definition.edges:
        if edge.name in given:
            allowed, refused = given[edge.name]
            cases.append(EdgeCase(edge, allowed, refused))
        else:
            cases.append(_search(definition, edge))
    return tuple(cases)
