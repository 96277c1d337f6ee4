"""Every livekit-agents internal voicefsm depends on, in one place (verified on 1.8.9).

Each is something livekit does not (yet) offer publicly; ``tests/test_livekit_compat.py``
pins every one, so a livekit upgrade that moves one fails a test that names it instead of a call.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

from livekit.agents import AgentServer, AgentSession
from livekit.agents.cli import cli as _lk_cli
from livekit.agents.cli import proto as _lk_proto
from livekit.agents.cli.cli import AgentsConsole as _AgentsConsole
from livekit.agents.evals import Evaluator
from livekit.agents.evals import judge as _lk_judge
from livekit.agents.ipc.mock_room import create_mock_room as _create_mock_room
from livekit.agents.voice.agent import _pass_through_activity_task_info
from livekit.agents.voice.agent_session import SessionConnectOptions

__all__ = [
    "SessionConnectOptions",
    "agent_may_speak",
    "console_enabled",
    "event_listener",
    "mock_room_participant",
    "run_worker",
    "session_is_closing",
    "statement_judge",
]


E = TypeVar("E")
_ONE_EVENT = inspect.Signature([inspect.Parameter("event", inspect.Parameter.POSITIONAL_ONLY)])


def event_listener(handler: Callable[[E], None]) -> Callable[[E], None]:
    """``handler`` for livekit's ``EventEmitter.on``, its signature worked out once.

    livekit's ``emit`` calls ``inspect.signature`` on every listener for every event, to pass it
    only as many arguments as it takes; for a bound method that rebuilds the signature each time
    (tens of microseconds, at every state change of every session). ``inspect.signature``
    answers a function carrying ``__signature__`` at once."""

    def listener(event: E, /) -> None:
        handler(event)

    listener.__signature__ = _ONE_EVENT  # type: ignore[attr-defined]
    return listener


def run_worker(server: AgentServer, *, log_level: str, dev: bool) -> None:
    """Run ``server`` exactly as ``python -m livekit.agents start [--dev]`` does: livekit's own
    logging setup, signal handling (SIGTERM drains, a second one exits) and shutdown. Private in
    livekit (``cli._run_worker``); its public CLI parses ``sys.argv`` itself. It returns
    normally even when ``server.run`` raised (livekit only logs "worker failed")."""
    args = _lk_proto.CliArgs(log_level=log_level, log_format="colored" if dev else "json", dev=dev)
    _lk_cli._run_worker(server, args=args)


def console_enabled() -> bool:
    """True when this process runs livekit's console (``python -m livekit.agents console``,
    the deprecated ``python agent.py console``): jobs run on a thread of this process and the
    console decides text or audio mode as the call goes (the ``lk`` CLI turns audio off, the
    old console's ``--text``). Private in livekit (``cli.AgentsConsole``)."""
    return bool(_AgentsConsole.get_instance().enabled)


def mock_room_participant() -> Any:  # noqa: ANN401 (livekit's autospec mock)
    """The remote participant of livekit's mock room, which ``simulate_job(fake_job=True)``
    gives every fake job. The room is cached process-wide, so what is set here is what the next
    simulated job's ``wait_for_participant`` returns."""
    return next(iter(_create_mock_room().remote_participants.values()))


def session_is_closing(session: AgentSession[Any]) -> bool:
    """True once ``session`` has begun to close (``aclose``, a participant leaving, errors):
    nothing more can be said in it. Private in livekit (``AgentSession._is_closing``)."""
    return bool(session._is_closing())


def agent_may_speak(session: AgentSession[Any]) -> bool:
    """True while the agent may still say something without a new user turn: a speech
    playing or queued, an agent being switched in (a handoff drains the old agent, then the new
    one's ``on_enter`` may speak) or its ``on_enter`` still running. livekit keeps these private
    (``AgentSession._update_activity_atask``, ``AgentActivity._on_enter_task``, ``_speech_q``);
    its ``wait_for_idle`` covers only the speeches."""
    if session.current_speech is not None:
        return True
    switching = getattr(session, "_update_activity_atask", None)
    if switching is not None and not switching.done():
        return True
    activity = getattr(session, "_activity", None)
    if activity is None:
        return False
    entering = activity._on_enter_task
    return bool(activity._speech_q) or (entering is not None and not entering.done())


def statement_judge(statement: str, *, name: str = "statement") -> Evaluator:
    """LiveKit's LLM judge for a criterion of your own: it shows the model the conversation
    and ``statement`` and asks for ``submit_verdict(verdict, reasoning)``. livekit builds it
    only for its fixed criteria (``accuracy_judge()``...); the class is private
    (``evals.judge._LLMJudge``)."""
    return _lk_judge._LLMJudge(instructions=statement, name=name)


def inherit_activity(task: asyncio.Task[Any]) -> None:
    """``task`` runs on behalf of the current task (a tool's body, run contained in a task of
    its own): livekit's note of what the current task is (the tool call, the speech it belongs
    to) goes with it, so that awaiting an ``AgentTask`` there works as in the tool itself."""
    _pass_through_activity_task_info(task)


def skip_local_model_preload() -> None:
    """Let a job executor's warm-up (``livekit.agents.ipc._preload``) leave out livekit's local
    VAD and end-of-turn models (about 244 MB, and 0.2 s before the first session starts): a
    simulated session uses neither, and an agent that does loads them on first use. A value
    the user set for ``LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE`` stays."""
    os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")


def skip_last_words_on_close(session: AgentSession[Any]) -> None:
    """Closing, livekit waits up to ``session_close_transcript_timeout`` for the caller's last
    words (after feeding the recogniser silence). Once voicefsm has stopped listening (the
    call persisted) nothing the caller says can be recorded, so the wait only held every
    session open for it (0.5 s each): from then on the close does not wait."""
    session._opts.session_close_transcript_timeout = 0.0
