"""A simulation run in its own process, for the crash and shutdown trials.

``python -m trials.session_child CONFIG_JSON`` runs ``voicefsm.simulation.simulate``
(the production entrypoint in an unregistered worker) and reports on stdout, unbuffered, so
that lines written before a SIGKILL still reach the parent:

* ``ACK <key>`` for each write the moment it is acknowledged (committed to the spool);
* ``STATE <room> <from> <to> <trigger>`` for each lifecycle transition;
* ``REPORT <json>`` with the sessions' reports once the run is over.

CONFIG_JSON: ``{"backend_url", "spool_path", "scenario", "sessions"?, "room_names"?,
"drain_timeout_s"?, "flush_deadline_s"?, "history_deadline_s"?, "agent"? (module:attr, the
example agent by default), "returning_callers"?, "caller_lease_s"?}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence

from voicefsm.lifecycle import TimelineEntry
from voicefsm.settings import Settings
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario
from voicefsm.worker.loading import load_agent


def _emit(line: str) -> None:
    # One write(2) per line: atomic on a pipe and never left in a userspace buffer.
    os.write(1, (line + "\n").encode())


def _acknowledged(keys: Sequence[str]) -> None:
    _emit("\n".join(f"ACK {key}" for key in keys))


def _transition(room: str, entry: TimelineEntry) -> None:
    _emit(f"STATE {room} {entry.source} {entry.dest} {entry.trigger}")


def main(config_text: str) -> int:
    config = json.loads(config_text)
    settings = Settings(
        backend_url=config["backend_url"],
        spool_path=config["spool_path"],
        drain_timeout_s=config.get("drain_timeout_s", 1800.0),
        flush_deadline_s=config.get("flush_deadline_s", 8.0),
        history_deadline_s=config.get("history_deadline_s", 1.0),
        returning_callers=config.get("returning_callers", "off"),
        caller_lease_s=config.get("caller_lease_s", 60.0),
    )
    agent = {"agent": load_agent(config["agent"])} if "agent" in config else {}
    scenario = Scenario.model_validate(config["scenario"])
    result = asyncio.run(
        simulate(
            scenario,
            settings,
            sessions=config.get("sessions", 1),
            room_names=config.get("room_names"),
            on_line=_transition,
            on_commit=_acknowledged,
            **agent,
        )
    )
    _emit("REPORT " + json.dumps({"ok": result.ok, "sessions": result.sessions}))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
