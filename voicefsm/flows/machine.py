"""A flow's graph run by ``transitions``, as the lifecycle's table is.

Why this shape (the lifecycle's, see :mod:`voicefsm.lifecycle.machine`): a synchronous
``transitions.Machine`` on a small model of its own, no ``auto_transitions``, and one trigger
per edge (edge names are unique in a flow). The machine decides legality (is this edge one that
leaves the current node?) and moves; the edge's guards are its conditions. A guard is the
user's code, so it is called under a net, and the reason it gives travels back with the
attempt that asked, never parked on the machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from transitions import Machine

from voicefsm.flows.definition import EdgeSpec, FlowDefinition

_LOG = logging.getLogger("voicefsm.flows")


@dataclass(slots=True)
class Attempt:
    """One try at an edge: the data its guards read, and (filled in by the guards) why not."""

    edge: EdgeSpec
    data: BaseModel
    collected: frozenset[str]
    reason: str = ""
    failed: bool = False

    def allowed(self) -> bool:
        for guard in self.edge.guards:
            try:
                holds = guard.check(self.data, self.collected)
            except Exception:
                _LOG.exception(
                    "flow guard raised; the edge is refused",
                    extra={"edge": self.edge.name, "guard": guard.label},
                )
                self.reason, self.failed = f"the check {guard.label} failed", True
                return False
            if not holds:
                self.reason = guard.explain(self.data, self.collected)
                return False
        return True


class _Position:
    """The model ``transitions`` moves: only the node it is in."""

    state: str


def _allowed(attempt: Attempt) -> bool:
    return attempt.allowed()


def machine_states(definition: FlowDefinition) -> list[dict[str, Any]]:
    """The ``transitions`` state configuration of a flow."""
    return [{"name": node.name, "final": node.final} for node in definition.nodes]


def machine_transitions(definition: FlowDefinition) -> list[dict[str, Any]]:
    """One transition per edge, its guards as a single condition, in declaration order."""
    return [
        {
            "trigger": edge.name,
            "source": edge.source,
            "dest": edge.target,
            "conditions": [_allowed] if edge.guards else [],
        }
        for edge in definition.edges
    ]


class FlowMachine:
    """Where one running flow is; moved only by :meth:`fire`, or :meth:`place` for a restore."""

    def __init__(self, definition: FlowDefinition) -> None:
        self._position = _Position()
        self._machine = Machine(
            model=self._position,
            states=machine_states(definition),
            transitions=machine_transitions(definition),
            initial=definition.initial,
            auto_transitions=False,
            # Conditions get the attempt as their one argument.
            send_event=False,
        )
        self._events = self._machine.events
        self._triggers: Callable[[str], list[str]] = self._machine.get_triggers

    @property
    def node(self) -> str:
        return self._position.state

    def leaves_here(self, edge: str) -> bool:
        """Whether ``edge`` is an edge out of the current node."""
        event = self._events.get(edge)
        return event is not None and self.node in event.transitions

    def fire(self, attempt: Attempt) -> bool:
        """Take ``attempt.edge`` if its guards hold; False (with ``attempt.reason``) if not."""
        accepted: bool = self._events[attempt.edge.name].trigger(self._position, attempt)
        return accepted

    def place(self, node: str) -> None:
        """Put the flow at ``node`` without taking an edge (restoring a stored flow)."""
        self._machine.set_state(node, model=self._position)

    def edges_here(self) -> list[str]:
        """The edges out of the current node, guards not evaluated."""
        return self._triggers(self.node)
