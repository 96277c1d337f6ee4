"""The shape of a flow file, as pydantic models: the one place it is written down, checked
key by key (an unknown or misspelt key is refused, not ignored) and exportable as JSON Schema
for editors (:func:`flow_file_schema`). A file::

    flow: TableFlow
    data:
      party_size: {type: integer, minimum: 1, maximum: 12, description: How many people}
      day: {enum: [Friday, Saturday]}
    common_tools: [hang_up]
    nodes:
      collect:
        instructions: Ask how many people are coming, and which day.
        collects: [party_size, day]
        edges:
          go_to_done: {to: done, requires: [party_size, day]}
      done: {instructions: Thank the caller., final: true}

Guards, tasks and handoff agents are Python: a file names them as ``module:attribute`` (or
by a name given to ``load_flow(..., references=...)``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Scalar = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldFile(_Strict):
    """A field of the flow's data: a ``type`` or an ``enum`` of strings, and constraints."""

    type: Literal["string", "integer", "number", "boolean"] | None = None
    enum: list[str] | None = Field(None, min_length=1)
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=1)
    pattern: str | None = None
    description: str | None = None
    #: Values that fit, for generated tests (``voicefsm.testing.edge_cases``) and for readers.
    examples: list[Scalar] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> FieldFile:
        if (self.type is None) == (self.enum is None):
            msg = "give a field either a type or an enum"
            raise ValueError(msg)
        return self


class TaskFile(_Strict):
    """A livekit ``AgentTask`` the node runs (``module:Class``), and where its result goes."""

    run: Reference
    stores: dict[Name, str] = Field(default_factory=dict)


class EdgeFile(_Strict):
    """An edge out of the node it is written under; its key is its name (the model's tool)."""

    to: Name
    requires: list[Name] = Field(default_factory=list)
    equals: dict[Name, Scalar] = Field(default_factory=dict)
    when: Reference | None = None
    refusal: str | None = None
    clears: list[Name] = Field(default_factory=list)
    description: str | None = None
    tool: bool = True
    auto: bool = False


class NodeFile(_Strict):
    """A node; its key is its name."""

    instructions: str = ""
    collects: list[Name] = Field(default_factory=list)
    tools: list[Name] = Field(default_factory=list)
    context: Literal["keep", "reset", "summarise"] = "keep"
    final: bool = False
    initial: bool = False
    task: TaskFile | None = None
    agent: Reference | None = None
    edges: dict[Name, EdgeFile] = Field(default_factory=dict)


class FlowFile(_Strict):
    """A whole flow file."""

    flow: Name | None = None
    data: dict[Name, FieldFile] = Field(default_factory=dict)
    common_tools: list[Name] = Field(default_factory=list)
    nodes: dict[Name, NodeFile] = Field(min_length=1)


def flow_file_schema() -> dict[str, Any]:
    """The JSON Schema of a flow file, for an editor's completion and checks."""
    return FlowFile.model_json_schema()
