"""The diagram as Mermaid (``stateDiagram-v2``), which GitHub renders: the live states inside a
composite "in call" state, with the same arrows as the DOT drawing."""

from __future__ import annotations

import json

from voicefsm.diagrams.model import Arrow, Diagram, StateBox

_LIVE_ID = "in_call"


def _escape(text: str) -> str:
    # What goes in is states, triggers, and the agent's class, tool and method names; only a
    # double quote or a semicolon could still end a Mermaid statement early.
    return text.replace('"', "'").replace(";", ",")


def _title(text: str) -> str:
    """The title for Mermaid's YAML front matter: an agent's ("Clinic: its voice lifecycle")
    has a colon in it, which YAML would read as a mapping, and Mermaid then draws nothing."""
    return json.dumps(text) if ":" in text else _escape(text)


def _state(node: StateBox, indent: str) -> list[str]:
    return [f'{indent}state "{node.state.value}" as {node.state.value}']


def _notes(node: StateBox, indent: str) -> list[str]:
    lines = [*(["stays on " + ", ".join(node.stays)] if node.stays else []), *node.notes]
    if not lines:
        return []
    body = "<br/>".join(_escape(line) for line in lines)
    return [f"{indent}note right of {node.state.value}", f"{indent}  {body}", f"{indent}end note"]


def _arrow(arrow: Arrow, indent: str) -> str:
    source = _LIVE_ID if arrow.source is None else arrow.source.value
    label = " | ".join(trigger.value for trigger in arrow.triggers)
    if arrow.hooks:
        label += " — " + "; ".join(_escape(hook) for hook in arrow.hooks)
    return f"{indent}{source} --> {arrow.dest.value}: {label}"


def render(diagram: Diagram) -> str:
    live = [node for node in diagram.nodes if node.live]
    rest = [node for node in diagram.nodes if not node.live]
    live_states = {node.state for node in live}
    inside = [a for a in diagram.arrows if a.source in live_states and a.dest in live_states]
    outside = [a for a in diagram.arrows if a not in inside]
    lines = [
        "---",
        f"title: {_title(diagram.title)}",
        "config:",
        "  themeVariables:",
        "    fontSize: 18px",  # readable at a README's width (Mermaid's default is small)
        "---",
        "stateDiagram-v2",
        "  direction TB",
        f'  state "{_escape(diagram.live_box)}" as {_LIVE_ID} {{',
        "    direction TB",
        *(line for node in live for line in _state(node, "    ")),
        f"    [*] --> {live[0].state.value}",
        *(_arrow(arrow, "    ") for arrow in inside),
        *(line for node in live for line in _notes(node, "    ")),
        "  }",
        *(line for node in rest for line in _state(node, "  ")),
        *(_arrow(arrow, "  ") for arrow in outside),
        *(line for node in rest for line in _notes(node, "  ")),
        f"  {rest[-1].state.value} --> [*]",
    ]
    return "\n".join(lines) + "\n"
