"""The lifecycle as a picture sees it: extracted from the table, drawn by the renderers.

What a page can hold: the six live states inside one "in call" box, one edge from that box to
``persisting`` for every way a call ends, an arrow per pair of states (its triggers merged),
and transitions that stay in their state listed on the state instead of drawn as loops (or once
on the box, when every live state keeps them: a dropped caller is waited for anywhere). Guards
and effects go to the table under the picture. An agent adds its tools (on ``thinking``, where
a reply calls them) and its hooks (on the state or transition they run on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicefsm.lifecycle import TRANSITIONS, Edge, State, Trigger
from voicefsm.lifecycle.states import ENDING_TRIGGERS, LIVE_STATES

LIVE_BOX = "in call"
#: Triggers that stay in every state they are taken in, told once under the picture.
EVERYWHERE = (Trigger.SPOKE,)


@dataclass(frozen=True, slots=True)
class HookMark:
    """A hook as a diagram shows it: the method, and where it runs ("enter", "exit" or
    "transition", with the state or trigger)."""

    name: str
    point: str
    on: str


@dataclass(frozen=True, slots=True)
class AgentShape:
    """What a diagram shows of an agent: its name, its tools, its hooks."""

    name: str
    tools: tuple[str, ...] = ()
    hooks: tuple[HookMark, ...] = ()


@dataclass(frozen=True, slots=True)
class StateBox:
    """A lifecycle state as drawn: in the live box or not, what keeps it, the agent's notes."""

    state: State
    live: bool
    #: Transitions that keep the state (internal, or re-entering it): named, not drawn.
    stays: tuple[str, ...] = ()
    #: The agent's annotations: its tools, its hooks on entering and leaving.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Arrow:
    source: State | None  # None: from the live box
    dest: State
    triggers: tuple[Trigger, ...]
    hooks: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return " | ".join(trigger.value for trigger in self.triggers)


@dataclass(frozen=True, slots=True)
class Diagram:
    title: str
    nodes: tuple[StateBox, ...]
    arrows: tuple[Arrow, ...]
    agent: AgentShape | None = None
    everywhere: tuple[Trigger, ...] = field(default=EVERYWHERE)
    #: Triggers every live state stays in: named once, on the "in call" box.
    in_call: tuple[str, ...] = ()

    @property
    def live_box(self) -> str:
        """The box's label: its name, and what every state in it stays on."""
        return LIVE_BOX + (f" (stays on {', '.join(self.in_call)})" if self.in_call else "")

    def node(self, state: State) -> StateBox:
        return next(node for node in self.nodes if node.state is state)


def _kept(edge: Edge) -> bool:
    return edge.dest is None or edge.dest is edge.source


def _in_call() -> tuple[Trigger, ...]:
    """Triggers (besides :data:`EVERYWHERE`) that every live state, and only those, stays in."""
    kept: dict[Trigger, set[State]] = {}
    for edge in TRANSITIONS:
        if _kept(edge) and edge.trigger not in EVERYWHERE:
            kept.setdefault(edge.trigger, set()).add(edge.source)
    return tuple(trigger for trigger, states in kept.items() if states == set(LIVE_STATES))


def _stays(state: State) -> tuple[str, ...]:
    names: list[str] = []
    skipped = (*EVERYWHERE, *_in_call())
    for edge in TRANSITIONS:
        if edge.source is state and _kept(edge) and edge.trigger not in skipped:
            name = edge.trigger.value + (" (retry)" if edge.trigger is Trigger.REPLY_FAILED else "")
            if name not in names:
                names.append(name)
    return tuple(names)


def _notes(state: State, agent: AgentShape | None) -> tuple[str, ...]:
    if agent is None:
        return ()
    notes = [f"tools: {', '.join(agent.tools)}"] if state is State.THINKING and agent.tools else []
    for point, sign in (("enter", "on enter"), ("exit", "on exit")):
        names = [h.name for h in agent.hooks if h.point == point and h.on == state.value]
        if names:
            notes.append(f"{sign}: {', '.join(names)}")
    # A hook on a transition that keeps its state (tool_finished, handed_off…) has no arrow to
    # sit on: it is noted on each state that takes it. (Those of EVERYWHERE are in the table.)
    stays = {name.split(" ")[0] for name in _stays(state)}
    for trigger in dict.fromkeys(h.on for h in agent.hooks if h.point == "transition"):
        if trigger in stays:
            names = [h.name for h in agent.hooks if h.point == "transition" and h.on == trigger]
            notes.append(f"on {trigger}: {', '.join(names)}")
    return tuple(notes)


def _arrows(agent: AgentShape | None) -> tuple[Arrow, ...]:
    pairs: dict[tuple[State | None, State], list[Trigger]] = {}
    for edge in TRANSITIONS:
        dest = edge.dest
        if dest is None or dest is edge.source:
            continue
        ending = edge.trigger in ENDING_TRIGGERS and edge.source in LIVE_STATES
        source = None if ending else edge.source
        triggers = pairs.setdefault((source, dest), [])
        if edge.trigger not in triggers:
            triggers.append(edge.trigger)
    hooks_on: dict[str, list[str]] = {}
    for hook in agent.hooks if agent is not None else ():
        if hook.point == "transition":
            hooks_on.setdefault(hook.on, []).append(hook.name)
    return tuple(
        Arrow(
            source,
            dest,
            tuple(triggers),
            tuple(
                f"on {t.value}: {', '.join(hooks_on[t.value])}"
                for t in triggers
                if t.value in hooks_on
            ),
        )
        for (source, dest), triggers in pairs.items()
    )


def build(agent: AgentShape | None = None) -> Diagram:
    """The diagram of the lifecycle, annotated with ``agent`` when one is given."""
    title = "Voice session lifecycle" if agent is None else f"{agent.name}: its voice lifecycle"
    nodes = tuple(
        StateBox(state, state in LIVE_STATES, _stays(state), _notes(state, agent))
        for state in State
    )
    in_call = tuple(trigger.value for trigger in _in_call())
    return Diagram(title, nodes, _arrows(agent), agent, in_call=in_call)
