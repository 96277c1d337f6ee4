"""A stored call, turned into a scenario (``voicefsm scenario export``).

What the backend holds of one session becomes a scenario that replays it against today's
agent: the caller's turns as the agent heard them (a reply they cut off makes the next turn a
barge-in, placed where the words heard end), what the model said and the tools it called (the
script of the offline model), each turn expecting exactly the tools called then, with their
arguments and how they ended, and the call expecting the same end. Tool outputs and the
application's events are kept as comments: they may hold what differs on every run (a booking
reference), so they are shown, not checked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml

from voicefsm.backend.client import BackendClient
from voicefsm.backend.stored import SessionOverview
from voicefsm.providers.scripted.tts import CHARS_PER_SECOND
from voicefsm.simulation.scenario import MAX_SCENARIO_BYTES, ScenarioError, parse_scenario

#: How the scenario ends the replayed call, for each way the stored one ended: a call the
#: agent (or its silence timeout, or a failure) ended is one the caller leaves to the agent.
ENDINGS = {"hang_up": "hang_up", "participant_left": "participant_left"}
_MAX_TURNS = 200


class ExportError(Exception):
    """The call cannot be exported; the message says why."""


@dataclass(frozen=True)
class StoredCall:
    conversation_id: str
    session: SessionOverview
    room_metadata: str | None
    #: The session's events as written (payloads), in the order they happened.
    events: list[dict[str, Any]]


async def read_call(
    client: BackendClient, conversation_id: str, session_id: str | None = None
) -> StoredCall:
    """The session ``session_id`` of the conversation (its last one by default), read back."""
    found = await client.conversation_sessions(conversation_id)
    sessions = found.sessions
    if session_id is not None:
        sessions = [s for s in sessions if s.session_id == session_id]
    if not sessions:
        which = f"session {session_id}" if session_id else "session"
        msg = (
            f"no {which} of conversation {conversation_id} is stored there (a session's summary "
            "is written when it ends)"
        )
        raise ExportError(msg)
    session = sessions[-1]
    events: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = await client.stored_events(conversation_id, after=after)
        events += [
            e.payload for e in page.events if e.payload.get("session_id") == session.session_id
        ]
        after = page.next_after
    events.sort(key=lambda event: (str(event.get("at")), str(event.get("idempotency_key"))))
    return StoredCall(conversation_id, session, found.room_metadata, events)


def _of(events: list[dict[str, Any]], kind: str, **where: object) -> list[dict[str, Any]]:
    return [
        e for e in events if e.get("kind") == kind and all(e.get(k) == v for k, v in where.items())
    ]


def _arguments(text: object) -> dict[str, Any] | None:
    try:
        value = json.loads(str(text))
    except ValueError:
        return None
    fits = isinstance(value, dict) and len(value) <= 32 and all(len(k) <= 64 for k in value)
    return value if fits else None


def _farewell(call: StoredCall) -> dict[str, Any] | None:
    """The agent's own goodbye (a ``say`` speech after the caller's last turn), which the
    replayed agent says again by itself: not the model's, so not in the script."""
    speeches = _of(call.events, "speech")
    users = _of(call.events, "message", role="user")
    messages = _of(call.events, "message", role="assistant")
    if not speeches or not messages or speeches[-1].get("source") != "say":
        return None
    last_user = str(users[-1]["at"]) if users else ""
    return messages[-1] if str(speeches[-1]["at"]) >= last_user else None


def _turn(
    number: int, heard: str, said: list[dict[str, Any]], calls: list[dict[str, Any]]
) -> dict[str, Any]:
    turn: dict[str, Any] = {"user": heard[:2000]}
    texts = [str(m["text"]) for m in said if m.get("text")]
    if calls:
        turn["tools"] = []
        for call in calls:
            step: dict[str, Any] = {"name": call["name"]}
            if arguments := _arguments(call.get("arguments")):
                step["arguments"] = arguments
            turn["tools"].append(step)
        quiet = all(call.get("outcome") == "no_reply" for call in calls)
        outputs = " ".join(str(call.get("result") or "") for call in calls).strip()
        if len(texts) >= 2 or (texts and quiet):
            turn["preamble"] = texts[0][:500]
        if texts and not quiet and texts[-1] != outputs:
            turn["reply"] = texts[-1][:2000]
    elif texts:
        turn["reply"] = texts[0][:2000]
    turn["expect"] = {
        "tools": [
            {k: v for k, v in step.items() if k != "result"} | {"outcome": call.get("outcome")}
            for step, call in zip(turn.get("tools", []), calls, strict=False)
        ]
    }
    return turn


def scenario_yaml(call: StoredCall) -> str:
    """The call as a scenario file (YAML, with comments), checked to parse as one."""
    farewell = _farewell(call)
    users = _of(call.events, "message", role="user")[:_MAX_TURNS]
    assistant = [m for m in _of(call.events, "message", role="assistant") if m is not farewell]
    calls_by_turn: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in _of(call.events, "tool_call"):
        calls_by_turn[int(event.get("turn", 0))].append(event)
    blocks: list[str] = []
    cut_off: int | None = None
    for index, message in enumerate(users, start=1):
        number = int(message.get("turn", index))
        said = [m for m in assistant if int(m.get("turn", -1)) == number]
        turn = _turn(number, str(message["text"]), said, calls_by_turn[number])
        if cut_off is not None:
            turn = {"user": turn.pop("user"), "interrupt_after_ms": cut_off, **turn}
        interrupted = next((m for m in said if m.get("interrupted")), None)
        # The caller's next words came while this reply played: as far as the words heard.
        cut_off = None
        if interrupted is not None:
            heard_s = len(str(interrupted.get("text") or "")) / CHARS_PER_SECOND
            cut_off = min(60_000, round(heard_s * 1000))
        comments = [f"turn {number} (recorded)"]
        for tool in calls_by_turn[number]:
            output = str(tool.get("result") or "")[:200].replace("\n", " ")
            comments.append(f"{tool['name']} ended {tool.get('outcome')}, returned: {output!r}")
        blocks.append(_block(turn, comments))
    session = call.session
    head = {
        "participant_metadata": _caller(session),
        "room_metadata": _room(call.room_metadata),
    }
    tail = {
        "end": ENDINGS.get(session.end_reason, "agent"),
        "expect": {"end_reason": session.end_reason},
    }
    apps = [f"{e.get('name')}: {json.dumps(e.get('data'))[:200]}" for e in _of(call.events, "app")]
    lines = [
        f"# Exported by `voicefsm scenario export` from conversation {call.conversation_id},",
        f"# session {session.session_id} ({session.started_at.isoformat()}, "
        f"{session.duration_s:.1f} s, ended {session.end_reason}).",
        "# Replay: voicefsm simulate --scenario FILE [--fast] [--llm live]",
        *(f"# application event written: {line}" for line in apps),
        _dump(head).rstrip(),
        "turns:",
        *blocks,
        _dump(tail).rstrip(),
    ]
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > MAX_SCENARIO_BYTES:
        msg = "the call is too long to export as one scenario"
        raise ExportError(msg)
    try:
        parse_scenario(text, source="the exported scenario")
    except ScenarioError as exc:
        raise ExportError(str(exc)) from None
    return text


def _caller(session: SessionOverview) -> dict[str, Any]:
    callers = [p for p in session.participants if p.get("kind") in ("standard", "sip")]
    if not callers:
        return {}
    known = {key: callers[0].get(key) for key in ("user_id", "display_name")}
    return {key: value for key, value in known.items() if value}


def _room(metadata: str | None) -> dict[str, Any]:
    """The room's agent settings: not its conversation id (the replay is a call of its own)."""
    try:
        stored = json.loads(metadata or "{}")
    except ValueError:
        return {}
    agent = stored.get("agent") if isinstance(stored, dict) else None
    return {"agent": agent} if isinstance(agent, dict) and agent else {}


class _NoAliases(yaml.SafeDumper):
    """Scenario files refuse YAML aliases; the same arguments appear twice (script, expect)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _dump(data: object, width: int = 100) -> str:
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=width)


def _block(turn: dict[str, Any], comments: list[str]) -> str:
    item = _dump([turn], width=96).rstrip()
    indented = "\n".join("  " + line for line in item.splitlines())
    return "\n".join([*(f"  # {line}" for line in comments), indented])
