"""Flow resume trials: a worker running a flow agent SIGKILLed in the middle of the flow, then
dispatched again; the call must go on at the node it was in, with the data it had collected,
without greeting again and without taking a finished step twice.

Each trial runs ``voicefsm.simulation.simulate`` with the booking example
(:mod:`voicefsm.examples.booking`, scripted model calling the flow's generated tools) in a
child process against a reference backend served by this process. The first child takes the
booking from ``greet`` to ``collect`` and records the party size and the day; it is killed
right after that turn's reply. The second child, on the same spool, comes back to the same
conversation in one of two ways:

* ``room``: the room's metadata names the conversation (a worker restart or a re-dispatch into
  the same room; a caller rejoining after the grace period into a new session is the same);
* ``caller``: the room names none, and the caller is known by their user id (a returning
  caller, ``VOICEFSM_RETURNING_CALLERS=user_id``); the crashed call's hold on their
  conversation runs out first (``caller_lease_s``).

It then says the time; the flow must be at ``collect`` with all three fields, after one step.
"""

from __future__ import annotations

import signal
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from trials.child import ChildRun
from trials.crash import CHILD_TIMEOUT_S, drain_spool, new_conversation
from trials.summary import GroupResult
from voicefsm.backend.server.runner import running_backend

AGENT = "voicefsm.examples.booking:BookingAgent"
MODES = ("room", "caller")
CALLER_LEASE_S = 3.0
#: The reply after which the first child is killed: the third (party size, then day).
KILL_AFTER_REPLIES = 3


def _turn(user: str, tool: str | None = None, **arguments: object) -> dict[str, Any]:
    turn: dict[str, Any] = {"user": user, "pause_ms": 200}
    if tool is not None:
        turn["tools"] = [{"name": tool, "arguments": arguments}]
        turn["reply"] = "Noted."
    return turn


PHASE_ONE = [
    _turn("I would like to book a table", "start_booking"),
    _turn("There will be four of us", "set_party_size", party_size=4),
    _turn("On Friday please", "set_day", day="Friday"),
    # Never reached: the kill comes first. It keeps the call alive until then.
    _turn("Let me check my calendar for a moment"),
    _turn("Sorry, still looking"),
]
PHASE_TWO = [_turn("At eight in the evening", "set_time", time="20:00")]
EXPECTED = {"party_size": 4, "day": "Friday", "time": "20:00"}


def _scenario(mode: str, conversation: str | None, user: str, turns: list[dict[str, Any]]) -> Any:
    room = {"conversation_id": conversation} if mode == "room" and conversation else {}
    return {
        "room_metadata": room,
        "participant_metadata": {"user_id": user, "display_name": "Flo"},
        "turns": turns,
        "end": "hang_up",
    }


def _replies(run: ChildRun) -> int:
    return sum("speaking listening reply_finished" in line for _, line in run.states)


def flow_resume_trial(mode: str, backend_url: str, workdir: Path) -> GroupResult:
    result = GroupResult(f"flow resume: SIGKILL mid-flow, back by {mode}", trials=1)
    where = f"by {mode}"
    user = f"u_flow_{mode}"
    room = f"flow-{mode}"
    conversation = new_conversation(backend_url, room) if mode == "room" else None
    config = {
        "backend_url": backend_url,
        "spool_path": str(workdir / f"spool-{mode}.sqlite3"),
        "agent": AGENT,
        "flush_deadline_s": 4.0,
        "history_deadline_s": 5.0,
        "room_names": [room if mode == "room" else f"{room}-first"],
        "returning_callers": "user_id" if mode == "caller" else "off",
        "caller_lease_s": CALLER_LEASE_S,
    }
    first = ChildRun({**config, "scenario": _scenario(mode, conversation, user, PHASE_ONE)})
    first.start()
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while _replies(first) < KILL_AFTER_REPLIES and not first.finished:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    killed = not first.finished
    first.signal(signal.SIGKILL)
    first.wait(CHILD_TIMEOUT_S)
    result.faults += int(killed)
    result.check(killed, f"{where}: the first call ended before its kill ({first.stderr[-300:]})")
    if mode == "caller":
        time.sleep(CALLER_LEASE_S + 0.5)  # the crashed call's hold on the caller runs out

    # Dispatched again: the same room (by room metadata), or a new room (a returning caller).
    second_room = room if mode == "room" else f"{room}-again"
    second = ChildRun(
        {
            **config,
            "room_names": [second_room],
            "scenario": _scenario(mode, conversation, user, PHASE_TWO),
        }
    )
    second.start().wait(CHILD_TIMEOUT_S)
    result.check(second.returncode == 0, f"{where}: the second call exited {second.returncode}")
    leftover = drain_spool(Path(config["spool_path"]), backend_url)
    result.check(leftover == 0, f"{where}: {leftover} writes still pending after a drain")
    _check_resumed(result, where, second)
    return result


def _check_resumed(result: GroupResult, where: str, second: ChildRun) -> None:
    report = second.report
    if report is None or not report["sessions"]:
        result.check(False, f"{where}: the second call produced no report ({second.stderr[-300:]})")
        return
    session = report["sessions"][0]
    flows = {flow["flow"]: flow for flow in session.get("flows", [])}
    booking = flows.get("BookingFlow")
    if booking is None:
        result.check(False, f"{where}: the second call ran no BookingFlow")
        return
    result.check(booking["node"] == "collect", f"{where}: resumed at {booking['node']}")
    result.check(booking["data"] == EXPECTED, f"{where}: the data is {booking['data']}")
    edges = [step["edge"] for step in booking["path"]]
    result.check(edges == ["start_booking"], f"{where}: the path is {edges}")
    result.check(booking["steps"] == 1, f"{where}: {booking['steps']} node changes, not 1")
    triggers = [entry["trigger"] for entry in session["timeline"]]
    result.check("resumed" in triggers, f"{where}: not resumed ({triggers[:4]})")
    result.check("greeted" not in triggers, f"{where}: greeted again")
    called = [tool["name"] for tool in session["tools"]]
    result.check(called == ["set_time"], f"{where}: the second call called {called}")
    said = " ".join(m["text"] for m in session["history"] if m["role"] == "assistant")
    result.check("book a table?" not in said, f"{where}: the greeting was said again")
    result.notes.append(
        f"{where}: resumed at {booking['node']} with {sorted(booking['data'])}, "
        f"{len(session['resumed_from'])} earlier messages"
    )


def run_flow_resume_trials(modes: tuple[str, ...] = MODES) -> list[GroupResult]:
    """One kill-and-dispatch-again trial per way back, against one SQLite reference backend."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-flow-")))
        backend_url = stack.enter_context(
            running_backend(
                f"sqlite:///{workdir / 'backend.sqlite3'}",
                caller_secret=SecretStr("flow-resume-caller-secret"),
            )
        )
        return [flow_resume_trial(mode, backend_url, workdir) for mode in modes]
