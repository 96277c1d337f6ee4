"""Scenario files for ``voicefsm simulate`` (JSON or YAML)::

    {
      "room_metadata": {"agent": {"greeting": "Hi, this is Acme."}},   # or a raw string
      "participant_metadata": {"user_id": "u_1", "display_name": "Ada"}, # or a raw string
      "participant_attributes": {"sip.phoneNumber": "+15550100"},
      "turns": [
        {"user": "What time do you open?"},
        {"user": "And on Sundays?", "pause_ms": 800},
        {"user": "Sorry, one more thing", "interrupt_after_ms": 600},   # barge in 600 ms into
        {"user": "Thanks", "llm_fail": 1},                               # the reply; fail once
        {"user": "Book Friday for two",                                  # the scripted model
         "tools": [{"name": "book_table", "arguments": {"day": "Friday", "people": 2}}],
         "reply": "Done: Friday, for two.",                              # calls a tool first
         "expect": {"tools": [{"name": "book_table", "arguments": {"people": 2}}]}}
      ],
      "end": "hang_up",                # or "participant_left", or "agent" (the agent hangs up)
      "expect": {"tools": ["book_table"], "end_reason": "hang_up", "says": ["Friday"],
                 "nodes": ["greet", "collect", "confirm"],   # a flow agent's nodes, in order
                 "judge": ["the agent confirmed the day before booking"]}
    }

Instead of ``turns``, a ``caller`` (``{"persona": ..., "goal": ..., "max_turns": 8}``) has a
model play the caller. Metadata given as a string is passed through untouched, so malformed
input can be simulated. ``tools``, ``reply``, ``preamble`` and ``llm_fail`` script the offline
model; with the real model (``simulate --llm live``) the model decides and ``expect`` checks what
it did. ``expect`` is checked after the run: the tools called (in order; a tool given with
``arguments`` matches calls having at least those), per turn or over the call; how the call
ended; phrases the agent said (case-insensitive); the flow nodes the call passed through
(``nodes``: in that order, others may come between); statements a model judges (``judge``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from voicefsm.errors import VoiceFsmError
from voicefsm.simulation.reading import read_capped

MAX_SCENARIO_BYTES = 1024 * 1024


class ScenarioError(VoiceFsmError):
    """The scenario file cannot be used; the message says why and where."""


class _AliasRefused(yaml.MarkedYAMLError):
    pass


class _ScenarioLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: scenarios need none, and aliases let a 1 KiB file expand
    into billions of nodes ("billion laughs") that validation would then walk."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _AliasRefused(problem="YAML aliases are not allowed", problem_mark=mark)
        return super().compose_node(parent, index)


ToolName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")]
Arguments = Annotated[dict[Annotated[str, Field(max_length=64)], JsonValue], Field(max_length=32)]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]


class ToolStep(BaseModel):
    """A tool the scripted model calls on this turn, with its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ToolName
    arguments: Arguments = {}


class ToolExpectation(BaseModel):
    """A tool call a run must show: its name; with ``arguments``, at least those (each equal);
    with ``outcome``, ending that way; with ``output``, a result containing that text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ToolName
    arguments: Arguments | None = None
    outcome: Literal["ok", "no_reply", "error", "timeout", "cancelled"] | None = None
    output: Annotated[str, Field(min_length=1, max_length=2000)] | None = None

    def __str__(self) -> str:
        details = [f"{key}={json.dumps(value)}" for key, value in (self.arguments or {}).items()]
        if self.outcome is not None:
            details.append(f"outcome {self.outcome}")
        return f"{self.name}({', '.join(details)})" if details else self.name


def _tool_expectations(value: object) -> object:
    """A tool named alone (``book_table``) is a :class:`ToolExpectation` with only its name."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class TurnExpectations(BaseModel):
    """What one turn's reply must show: exactly these tool calls (none, with ``[]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: Annotated[list[ToolExpectation], Field(max_length=16)] | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _named_alone(cls, value: object) -> object:
        return _tool_expectations(value)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[str, Field(min_length=1, max_length=2000)]
    pause_ms: Annotated[int, Field(ge=0, le=60_000)] = 300
    interrupt_after_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    llm_fail: Annotated[int, Field(ge=0, le=5)] = 0
    #: Tools the scripted model calls before it answers (several: in one reply).
    tools: Annotated[list[ToolStep], Field(max_length=8)] = []
    #: What the scripted model says (after the tools, when there are any).
    reply: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    #: Words said before the tools are called ("Let me check that").
    preamble: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    #: What this turn's reply must show, whichever model answers it.
    expect: TurnExpectations | None = None


class CallerPersona(BaseModel):
    """A caller played by a model: who they are, what they want, how long they may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: Annotated[str, Field(min_length=1, max_length=2000)]
    goal: Annotated[str, Field(min_length=1, max_length=1000)]
    max_turns: Annotated[int, Field(ge=1, le=50)] = 10
    pause_ms: Annotated[int, Field(ge=0, le=60_000)] = 300


NodeName = Annotated[str, Field(min_length=1, max_length=64)]


class Expectations(BaseModel):
    """What a run must show; each is checked and reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: Annotated[list[ToolExpectation], Field(max_length=64)] | None = None
    end_reason: (
        Literal["hang_up", "participant_left", "silence_timeout", "fatal_error", "end_call"] | None
    ) = None
    says: Annotated[list[Phrase], Field(max_length=32)] = []
    #: Flow nodes the call must pass through, in this order (others may come between).
    nodes: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=64)
    ] = []
    #: Statements about the whole call, each graded by a model (livekit's judge).
    judge: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=500)]], Field(max_length=16)
    ] = []

    @field_validator("tools", mode="before")
    @classmethod
    def _named_alone(cls, value: object) -> object:
        return _tool_expectations(value)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    room_metadata: dict[str, JsonValue] | str = {}
    participant_metadata: dict[str, JsonValue] | str = {}
    #: The caller's attributes (``{"sip.phoneNumber": "+15550100"}`` for a phone caller).
    participant_attributes: dict[str, str] = {}
    turns: Annotated[list[Turn], Field(max_length=200)] = []
    caller: CallerPersona | None = None
    end: Literal["hang_up", "participant_left", "agent"] = "hang_up"
    expect: Expectations | None = None

    @model_validator(mode="after")
    def _one_way_to_call(self) -> Scenario:
        if not self.turns and self.caller is None:
            msg = "give the caller's `turns`, or a `caller` for a model to play"
            raise ValueError(msg)
        if self.turns and self.caller is not None:
            msg = "give `turns` or a `caller`, not both"
            raise ValueError(msg)
        return self

    def room_metadata_text(self) -> str:
        raw = self.room_metadata
        return raw if isinstance(raw, str) else json.dumps(raw)

    def participant_metadata_text(self) -> str:
        raw = self.participant_metadata
        return raw if isinstance(raw, str) else json.dumps(raw)

    @property
    def needs_a_model(self) -> bool:
        """True when something in it needs the configured model: a judge, a model caller."""
        return self.caller is not None or bool(self.expect and self.expect.judge)


def parse_scenario(text: str, *, source: str = "scenario") -> Scenario:
    """Parse JSON or YAML (JSON is YAML); raise ScenarioError with a readable reason."""
    if len(text.encode()) > MAX_SCENARIO_BYTES:
        msg = f"{source}: larger than {MAX_SCENARIO_BYTES} bytes"
        raise ScenarioError(msg)
    try:
        data = yaml.load(text, Loader=_ScenarioLoader)  # noqa: S506 (a SafeLoader, no aliases)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = "YAML aliases (*name) are not allowed" if isinstance(exc, _AliasRefused) else None
        msg = f"{source}: {what or 'not valid JSON or YAML'}{where}"
        raise ScenarioError(msg) from None
    except RecursionError:
        msg = f"{source}: nested too deeply"
        raise ScenarioError(msg) from None
    if not isinstance(data, dict):
        msg = f"{source}: expected an object with 'turns', got {type(data).__name__}"
        raise ScenarioError(msg)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:5]
        )
        msg = f"{source}: {problems}"
        raise ScenarioError(msg) from None


def load_scenario(path: Path | None, *, example: bool = True) -> Scenario:
    """The scenario at ``path``; without one, the example agent's (``example``) or a generic
    conversation any agent can have."""
    if path is None:
        name = "example.json" if example else "generic.json"
        resource = files("voicefsm.simulation").joinpath(name)
        return parse_scenario(resource.read_text(encoding="utf-8"), source=f"packaged {name}")
    try:
        raw = read_capped(path, MAX_SCENARIO_BYTES)
    except ValueError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{path}: not UTF-8 text"
        raise ScenarioError(msg) from None
    return parse_scenario(text, source=str(path))
