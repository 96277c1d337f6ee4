"""``Flow``: a conversation declared as a class, and one conversation's run of it.

As in python-statemachine, the class is the definition and an instance is a run::

    class Booking(BaseModel):
        party_size: int | None = Field(None, ge=1, le=12)

    class TableFlow(Flow[Booking]):
        ask = Node("Ask how many people are coming.", collects=("party_size",))
        done = Node("Thank the caller.", final=True)

        go_to_done = ask.to(done, requires=("party_size",))

The class is checked when Python creates it (:mod:`.validation`); a wrong flow never gets as far
as a call. An instance holds where one conversation is: its node, the path it took, the data it
collected. Nothing it does raises into its caller: a refused step is a :class:`FlowStep` whose
``reason`` is written for the model.
"""

from __future__ import annotations

import itertools
import logging
import time
import typing
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, JsonValue, ValidationError

from voicefsm.flows.definition import EdgeSpec, FlowDefinition
from voicefsm.flows.events import (
    ChangeListeners,
    FlowStep,
    Mover,
    NodeChange,
    PathStep,
    RefusalKey,
    StepRefusal,
    describe_error,
)
from voicefsm.flows.machine import Attempt, FlowMachine
from voicefsm.flows.nodes import FlowEdge, Node
from voicefsm.flows.snapshot import restored, snapshot_of
from voicefsm.flows.validation import build_definition

_LOG = logging.getLogger("voicefsm.flows")
D = TypeVar("D", bound=BaseModel)


class NoData(BaseModel):
    """The data of a flow that collects nothing."""


def _data_model_of(cls: type) -> type[BaseModel] | None:
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Flow):
            [argument] = typing.get_args(base) or (None,)
            if isinstance(argument, type) and issubclass(argument, BaseModel):
                return argument
    return None


class Flow(Generic[D]):
    """A conversation as nodes and edges over typed data ``D`` (a pydantic model whose every
    field has a default: its value before it is collected). See the module's docstring.

    ``common_tools`` names the agent's tools every node offers (say ``hang_up``). ``clock`` is
    monotonic seconds (for dwell), ``now`` wall-clock seconds (for the path).
    """

    definition: ClassVar[FlowDefinition]
    _data_model: ClassVar[type[BaseModel]]
    common_tools: ClassVar[tuple[str, ...]] = ()
    #: How many path steps a snapshot keeps (the latest; ``steps`` still counts them all).
    snapshot_path_limit: ClassVar[int] = 50
    #: How many path steps a run keeps in memory (the latest), however long the call.
    path_limit: ClassVar[int] = 1000

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401 (type's own keywords)
        super().__init_subclass__(**kwargs)
        declared: dict[str, Node | FlowEdge] = {}
        for base in reversed(cls.__mro__):
            for name, value in vars(base).items():
                if isinstance(value, Node | FlowEdge):
                    declared[name] = value
        if not declared:
            return  # a base for other flows: nothing to check yet
        model = _data_model_of(cls) or getattr(cls, "_data_model", None) or NoData
        cls._data_model = model
        cls.definition = build_definition(
            cls.__name__, model, declared.items(), tuple(cls.common_tools)
        )

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not self.has_nodes():
            msg = f"{type(self).__name__} declares no node: subclass it with nodes and edges"
            raise TypeError(msg)
        self._clock, self._now = clock, now
        self._machine = FlowMachine(self.definition)
        self._data = cast("D", self._data_model())
        self._path: deque[PathStep] = deque(maxlen=self.path_limit)
        self._steps = 0
        self._entered_at = clock()
        self._dwell: dict[str, float] = {}
        self._listeners = ChangeListeners()
        #: Every refused step, counted by why, where and what (declared names only).
        self.refusals: Counter[RefusalKey] = Counter()

    @classmethod
    def has_nodes(cls) -> bool:
        """Whether the class declares a flow (a base for other flows declares none)."""
        return hasattr(cls, "definition")

    # What the conversation is at.

    @property
    def node(self) -> str:
        """The name of the node the conversation is in."""
        return self._machine.node

    @property
    def data(self) -> D:
        """The collected data (fields not collected yet hold their defaults)."""
        return self._data

    @property
    def collected(self) -> frozenset[str]:
        """The fields set so far (to something other than None)."""
        data = self._data
        return frozenset(n for n in data.model_fields_set if getattr(data, n) is not None)

    @property
    def path(self) -> tuple[PathStep, ...]:
        """The edges taken (the latest ``path_limit``; after a restore, those the snapshot kept,
        then the new ones)."""
        return tuple(self._path)

    def recent_path(self, limit: int) -> tuple[PathStep, ...]:
        """The latest ``limit`` steps of the path (none for 0)."""
        start = max(0, len(self._path) - limit)
        return tuple(itertools.islice(self._path, start, None))

    @property
    def steps(self) -> int:
        """How many node changes the conversation has made (a restore carries the count on)."""
        return self._steps

    @property
    def is_finished(self) -> bool:
        return self.definition.node(self.node).final

    def available_edges(self) -> tuple[EdgeSpec, ...]:
        """The edges out of the current node (their guards not evaluated)."""
        return self.definition.edges_from(self.node)

    def dwell(self) -> dict[str, float]:
        """Seconds spent in each node visited in this run, the current one up to now."""
        totals = dict(self._dwell)
        totals[self.node] = totals.get(self.node, 0.0) + self._clock() - self._entered_at
        return totals

    # Moving it.

    def take(self, edge: FlowEdge | str, *, by: Mover = "code") -> FlowStep:
        """Take ``edge`` (an edge of this flow, or its name) from the current node, if its
        guards hold. The model's tools pass ``by="model"``; code-only edges refuse it."""
        name = edge if isinstance(edge, str) else edge.name
        spec = self.definition.edge(name)
        here = self.node
        if spec is None:
            return self._refuse(StepRefusal.UNKNOWN, "unknown", f"there is no step called {name}")
        if self.is_finished:
            return self._refuse(StepRefusal.FINISHED, name, f"the conversation is over ({here})")
        if not self._machine.leaves_here(name):
            why = f"{name} leads on from {spec.source}, and the conversation is at {here}"
            return self._refuse(StepRefusal.ILLEGAL, name, why)
        if by == "model" and not spec.tool:
            return self._refuse(StepRefusal.ILLEGAL, name, f"{name} is taken by the agent's code")
        attempt = Attempt(spec, self._data, self.collected)
        if not self._machine.fire(attempt):
            refusal = StepRefusal.FAILED if attempt.failed else StepRefusal.GUARDED
            return self._refuse(refusal, name, attempt.reason)
        change = self._moved(spec, here, by)
        return FlowStep(True, self.node, changes=(change,))

    def set(self, field: str, value: object, *, by: Mover = "code") -> FlowStep:
        """Set ``field`` to ``value``, validated by the data model; only in a node that collects
        it. An automatic edge whose guards now hold is taken at once."""
        node = self.definition.node(self.node)
        if field not in self.definition.fields:
            return self._refuse(StepRefusal.UNKNOWN, "unknown", f"there is no field {field}")
        if self.is_finished:
            why = f"the conversation is over ({node.name})"
            return self._refuse(StepRefusal.FINISHED, field, why)
        if field not in node.gathers:
            why = f"{field} is not collected at {node.name}"
            return self._refuse(StepRefusal.ILLEGAL, field, why)
        return self._update({field: value}, field, by)

    def store_result(self, result: object) -> FlowStep:
        """Store the result of the current node's task into the fields its ``stores`` names."""
        node = self.definition.node(self.node)
        if node.task is None:
            why = f"{node.name} runs no task"
            return self._refuse(StepRefusal.ILLEGAL, node.name, why)
        values: dict[str, object] = {}
        for field, attribute in node.task.stores.items():
            if attribute and not hasattr(result, attribute):
                why = f"the task's result has no {attribute} for {field}"
                return self._refuse(StepRefusal.FAILED, node.name, why)
            values[field] = getattr(result, attribute) if attribute else result
        return self._update(values, node.name, "auto")

    # For the engine.

    def subscribe(self, listener: Callable[[NodeChange], None]) -> None:
        """Call ``listener`` with every node change, in order, after the flow has moved. A
        listener that raises is logged and dropped; one that moves the flow is fine (its
        change is told to everyone after the current one)."""
        self._listeners.add(listener)

    def unsubscribe(self, listener: Callable[[NodeChange], None]) -> None:
        self._listeners.remove(listener)

    def snapshot(self) -> dict[str, JsonValue]:
        """Where the conversation is, as JSON: what :meth:`restore` takes back."""
        return snapshot_of(
            self.definition,
            self.node,
            self.steps,
            self.data,
            self.recent_path(self.snapshot_path_limit),
        )

    def restore(self, snapshot: Mapping[str, object]) -> None:
        """Resume at a snapshot's node with its data and path. Raises
        :class:`~voicefsm.errors.FlowRestoreError` (and changes nothing) when it does not fit
        this flow: another flow's, an unknown node, data the model refuses."""
        node, data, path, steps = restored(self.definition, snapshot)
        self._machine.place(node)
        self._data = cast("D", data)
        self._path, self._steps = deque(path, maxlen=self.path_limit), steps
        self._entered_at, self._dwell = self._clock(), {}

    # Inside.

    def _update(self, values: dict[str, object], name: str, by: Mover) -> FlowStep:
        data = self._data
        current = {field: getattr(data, field) for field in data.model_fields_set}
        try:
            updated = self._data_model.model_validate(current | values)
        except ValidationError as exc:
            return self._refuse(StepRefusal.INVALID, name, describe_error(exc))
        self._data = cast("D", updated)
        for edge in self.available_edges():
            if edge.auto and Attempt(edge, updated, self.collected).allowed():
                step = self.take(edge.name, by="auto")
                return FlowStep(True, self.node, changes=step.changes)
        return FlowStep(True, self.node)

    def _moved(self, edge: EdgeSpec, source: str, by: Mover) -> NodeChange:
        if edge.clears:
            data = self._data
            kept = {f: getattr(data, f) for f in data.model_fields_set if f not in edge.clears}
            self._data = cast("D", self._data_model.model_validate(kept))
        at = self._clock()
        dwell = at - self._entered_at
        self._dwell[source] = self._dwell.get(source, 0.0) + dwell
        self._entered_at = at
        self._steps += 1
        snapshot = self._data.model_dump(mode="json", include=set(self._data.model_fields_set))
        change = NodeChange(
            self.definition.name,
            self._steps,
            edge.name,
            source,
            edge.target,
            by,
            self._now(),
            dwell,
            snapshot,
        )
        self._path.append(change.path_step)
        self._listeners.tell(change)
        return change

    def _refuse(self, refusal: StepRefusal, name: str, reason: str) -> FlowStep:
        self.refusals[RefusalKey(refusal, self.node, name)] += 1
        _LOG.info(
            "flow step refused",
            extra={"flow": self.definition.name, "node": self.node, "refusal": refusal.value},
        )
        return FlowStep(False, self.node, reason, refusal)
