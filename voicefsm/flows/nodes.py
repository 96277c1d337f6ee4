"""What a flow is declared with: nodes, the edges between them, and the guards on the edges.

These are the objects of a flow's class body (``greet = Node(...)``, ``start = greet.to(...)``),
as python-statemachine declares ``State``s and their transitions. They only record what was
written; the :class:`~voicefsm.flows.flow.Flow` class turns them into its frozen definition and
checks it when the class is created.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel


class ContextPolicy(StrEnum):
    """What entering a node does to the model's chat context."""

    #: The conversation so far stays as it is.
    KEEP = "keep"
    #: The node starts afresh: its instructions and the collected data, no earlier turns.
    RESET = "reset"
    #: Earlier turns are replaced by a summary (by default built without a model, from the
    #: collected data and the last turns).
    SUMMARISE = "summarise"


ContextChoice = ContextPolicy | Literal["keep", "reset", "summarise"]

#: A guard function: one argument, the flow's data (its pydantic model), and a yes or no.
GuardFunction = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class FlowGuard:
    """A condition an edge checks against the collected data before it is taken.

    ``label`` is what a diagram shows on the edge; ``explain`` gives the reason the model reads
    when the guard does not hold; ``fields`` are the fields the guard reads (checked to exist).
    """

    label: str
    check: Callable[[BaseModel, frozenset[str]], bool]
    explain: Callable[[BaseModel, frozenset[str]], str]
    fields: tuple[str, ...] = ()


def requires_guard(names: tuple[str, ...]) -> FlowGuard:
    """Every one of ``names`` has been collected (set, and not to None)."""

    def check(data: BaseModel, collected: frozenset[str]) -> bool:
        return all(name in collected for name in names)

    def explain(data: BaseModel, collected: frozenset[str]) -> str:
        missing = [name for name in names if name not in collected]
        return "still needed: " + ", ".join(missing)

    return FlowGuard("requires " + ", ".join(names), check, explain, names)


def _shown(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value) if isinstance(value, str) else str(value)


def equals_guard(values: Mapping[str, object]) -> FlowGuard:
    """Each named field holds the given value."""
    pairs = tuple(sorted(values.items()))

    def check(data: BaseModel, collected: frozenset[str]) -> bool:
        return all(name in collected and getattr(data, name) == v for name, v in pairs)

    def explain(data: BaseModel, collected: frozenset[str]) -> str:
        wrong = [
            f"{name} must be {_shown(v)}"
            + (f" (it is {_shown(getattr(data, name))})" if name in collected else " (not set)")
            for name, v in pairs
            if not (name in collected and getattr(data, name) == v)
        ]
        return "; ".join(wrong)

    label = ", ".join(f"{name} = {_shown(v)}" for name, v in pairs)
    return FlowGuard(label, check, explain, tuple(name for name, _ in pairs))


def function_guard(function: GuardFunction, refusal: str | None = None) -> FlowGuard:
    """A named function of the data; its name is the label a diagram shows."""
    label = getattr(function, "__name__", "")

    def check(data: BaseModel, collected: frozenset[str]) -> bool:
        return bool(function(data))

    def explain(data: BaseModel, collected: frozenset[str]) -> str:
        return refusal or f"{label} does not hold yet"

    return FlowGuard(label, check, explain)


def _annotation_problems(name: str, annotation: object, data: type[BaseModel]) -> list[str]:
    if not isinstance(annotation, type) or issubclass(data, annotation):
        return []
    if not issubclass(annotation, BaseModel):
        return [f"{name} takes {annotation.__name__}, but the flow's data is {data.__name__}"]
    # A guard reads fields by name: another model with those fields will do (a flow file's data
    # model is made from the file, so a guard cannot name it).
    lacking = [field for field in annotation.model_fields if field not in data.model_fields]
    if not lacking:
        return []
    return [
        f"{name} takes {annotation.__name__}, whose fields {', '.join(lacking)} the flow's "
        f"data ({data.__name__}) does not have"
    ]


def guard_problems(function: GuardFunction, data_model: type[BaseModel]) -> list[str]:
    """Why ``function`` cannot be a guard of a flow over ``data_model`` (empty: it can)."""
    name = getattr(function, "__name__", "")
    if not callable(function):
        return ["is not callable"]
    if not name.isidentifier():
        return ["is a lambda or has no name: give it a def, its name labels the edge"]
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(positional) < 1 or len(required) > 1:
        return [f"{name} must take one argument, the flow's data"]
    try:
        annotation = typing.get_type_hints(function).get(positional[0].name)
    except Exception:  # an annotation that does not resolve is not checked
        annotation = None
    return _annotation_problems(name, annotation, data_model)


@dataclass(frozen=True, slots=True)
class TaskStep:
    """A livekit ``AgentTask`` a node runs when it is entered (say
    ``livekit.agents.beta.workflows.GetEmailTask``), and where its result goes: ``stores`` maps a
    field of the flow's data to an attribute of the task's result (``{"email": "email_address"}``),
    or to ``""`` for the result itself."""

    factory: Callable[[], object]
    stores: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return getattr(self.factory, "__name__", type(self.factory).__name__)


class Node:
    """A step of the conversation: what the agent is told to do there (``instructions``), the
    fields of the flow's data it collects, the agent's tools it offers (by name), what entering
    it does to the chat context, and whether the conversation ends there (``final``).

    A node may instead run a livekit ``AgentTask`` (``task=TaskStep(GetEmailTask, ...)``) or hand
    the call to another agent (``agent=``: a class or a function of the flow's data returning a
    livekit ``Agent``; such a node is final). The first node declared is where a flow starts,
    unless another says ``initial=True``.
    """

    def __init__(
        self,
        instructions: str = "",
        *,
        collects: tuple[str, ...] = (),
        tools: tuple[str, ...] = (),
        context: ContextChoice = ContextPolicy.KEEP,
        final: bool = False,
        initial: bool = False,
        task: TaskStep | None = None,
        agent: Callable[..., object] | None = None,
    ) -> None:
        self.instructions = instructions
        self.collects = tuple(collects)
        self.tools = tuple(tools)
        self.context = context
        self.final = final
        self.initial = initial
        self.task = task
        self.agent = agent
        #: The attribute name it was declared under (set when the class is created).
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __repr__(self) -> str:
        return f"Node({self.name or '?'})"

    def to(
        self,
        target: Node | str,
        *,
        when: GuardFunction | None = None,
        requires: tuple[str, ...] = (),
        equals: Mapping[str, object] | None = None,
        refusal: str | None = None,
        clears: tuple[str, ...] = (),
        description: str | None = None,
        tool: bool = True,
        auto: bool = False,
    ) -> FlowEdge:
        """An edge from this node to ``target`` (a node, or a node's name for one declared
        later). Its name is the attribute it is assigned to, and that is the tool the model calls
        to take it (``tool=False``: only code takes it).

        Guards, all of which must hold: ``when`` (a named function of the data; ``refusal`` is
        what the model is told when it says no), ``requires`` (fields collected), ``equals``
        (fields holding values). ``clears`` unsets fields as the edge is taken (a "no" that goes
        back to collect them again). ``auto``: taken as soon as a field set in this node makes
        its guards hold, with no tool call (so it is not offered to the model).
        """
        return FlowEdge(
            self,
            target,
            when=when,
            requires=tuple(requires),
            equals=dict(equals or {}),
            refusal=refusal,
            clears=tuple(clears),
            description=description,
            tool=tool,
            auto=auto,
        )


class FlowEdge:
    """A way from one node to another, declared by :meth:`Node.to`."""

    def __init__(
        self,
        source: Node,
        target: Node | str,
        *,
        when: GuardFunction | None,
        requires: tuple[str, ...],
        equals: dict[str, object],
        refusal: str | None,
        clears: tuple[str, ...],
        description: str | None,
        tool: bool,
        auto: bool,
    ) -> None:
        self.source = source
        self.target = target
        self.when = when
        self.requires = requires
        self.equals = equals
        self.refusal = refusal
        self.clears = clears
        self.description = description
        self.tool = tool
        self.auto = auto
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __repr__(self) -> str:
        target = self.target if isinstance(self.target, str) else self.target.name
        return f"FlowEdge({self.name or '?'}: {self.source.name} -> {target})"
