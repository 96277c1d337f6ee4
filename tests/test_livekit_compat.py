"""Each livekit internal voicefsm depends on (``voicefsm/livekit_compat.py``), pinned: a livekit
upgrade that changes one fails here, by name."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys

import pytest
from livekit.agents import AgentSession, APIConnectOptions
from livekit.rtc import EventEmitter

from voicefsm import livekit_compat
from voicefsm.agent import VoiceAgent
from voicefsm.providers.scripted import ScriptedLLM
from voicefsm.providers.scripted.stt import ScriptedSTT


@pytest.mark.slow
def test_the_worker_runner_runs_the_server_and_returns_even_when_it_fails() -> None:
    """livekit's runner calls ``server.run`` and swallows what it raises: voicefsm's server
    notes the failure itself (``VoiceFsmServer.failed``)."""
    probe = (
        "from livekit.agents import AgentServer\n"
        "from voicefsm import livekit_compat\n"
        "class Server(AgentServer):\n"
        "    raised = False\n"
        "    async def run(self, **options):\n"
        "        try:\n"
        "            await super().run(**options)\n"
        "        except Exception:\n"
        "            Server.raised = True\n"
        "            raise\n"
        "server = Server(ws_url='ws://127.0.0.1:9', api_key='', api_secret='')\n"
        "async def entrypoint(ctx): pass\n"
        "server.rtc_session(entrypoint)\n"
        "livekit_compat.run_worker(server, log_level='CRITICAL', dev=True)\n"
        "print('failed' if Server.raised else 'ran')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]  # livekit returns normally ...
    assert result.stdout.strip().splitlines()[-1] == "failed"  # ... having logged the failure


def test_the_mock_room_and_its_participant_are_shared_by_every_fake_job() -> None:
    """simulate_job(fake_job=True) hands each job livekit's cached mock room: what the simulator
    sets on its participant is what the next job's wait_for_participant returns."""
    participant = livekit_compat.mock_room_participant()
    participant.metadata = '{"display_name": "Ada"}'
    assert livekit_compat.mock_room_participant() is participant
    assert livekit_compat.mock_room_participant().metadata == '{"display_name": "Ada"}'
    assert participant.identity == "mock_user"


class _Welcomes(VoiceAgent):
    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Welcome the caller.")


async def test_a_session_tells_whether_the_agent_may_still_speak() -> None:
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM(ttft_s=0.05), vad=None, turn_handling={"turn_detection": "manual"}
    )
    await session.start(VoiceAgent(instructions="test"))
    await session.wait_for_idle()
    assert not livekit_compat.agent_may_speak(session)
    session.update_agent(_Welcomes(instructions="test"))  # a handoff whose on_enter speaks
    assert livekit_compat.agent_may_speak(session)  # the switch is in flight
    while livekit_compat.agent_may_speak(session):
        await asyncio.sleep(0.01)
    assert [item.role for item in session.history.messages()][-1:] == ["assistant"]
    await session.aclose()


async def test_a_session_reports_that_it_is_closing() -> None:
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM(ttft_s=0.0), vad=None, turn_handling={"turn_detection": "manual"}
    )
    assert not livekit_compat.session_is_closing(session)
    await session.start(VoiceAgent(instructions="test"))
    assert not livekit_compat.session_is_closing(session)
    await session.aclose()
    assert livekit_compat.session_is_closing(session)


async def test_a_session_told_to_skip_the_last_words_closes_without_waiting_for_them() -> None:
    """livekit's close waits ``session_close_transcript_timeout`` for a final transcript that
    will not come (here 60 s); once skipped, it does not wait."""
    session: AgentSession[None] = AgentSession(
        stt=ScriptedSTT(),
        llm=ScriptedLLM(ttft_s=0.0),
        vad=None,
        turn_handling={"turn_detection": "manual"},
        session_close_transcript_timeout=60.0,
    )
    await session.start(VoiceAgent(instructions="test"))
    livekit_compat.skip_last_words_on_close(session)
    async with asyncio.timeout(30):  # a wait for the last words would run past this
        await session.aclose()


def test_session_connect_options_take_per_provider_retries() -> None:
    fast = APIConnectOptions(max_retry=1, retry_interval=0.1, timeout=0.5)
    options = livekit_compat.SessionConnectOptions(
        stt_conn_options=fast,
        llm_conn_options=fast,
        tts_conn_options=fast,
        max_unrecoverable_errors=2,
    )
    assert (options.llm_conn_options, options.max_unrecoverable_errors) == (fast, 2)


async def test_a_statement_judge_is_livekits_llm_judge_for_a_criterion_of_our_own() -> None:
    """``evals.judge._LLMJudge`` shows the model the criterion and the conversation and reads
    its ``submit_verdict``."""
    from livekit.agents import llm  # noqa: PLC0415

    from voicefsm.providers.scripted import ScriptedJudge  # noqa: PLC0415

    conversation = llm.ChatContext()
    conversation.add_message(role="user", content="Is Friday possible")
    conversation.add_message(role="assistant", content="Friday works.")
    judge = ScriptedJudge(lambda criterion, shown: "Friday works" in shown)
    result = await livekit_compat.statement_judge("confirms Friday").evaluate(
        chat_ctx=conversation, llm=judge
    )
    assert (result.verdict, result.instructions) == ("pass", "confirms Friday")
    assert judge.verdicts == [
        ("confirms Friday", "user: Is Friday possible\nassistant: Friday works.", True)
    ]


def test_livekit_passes_a_listener_the_arguments_its_signature_declares() -> None:
    """``emit`` reads each listener's signature, ``__signature__`` first (what makes
    ``event_listener`` cheap): a listener declaring one argument gets exactly the event."""
    received: list[object] = []

    def spy(*args: object) -> None:
        received.append(args)

    spy.__signature__ = inspect.signature(lambda event: None)  # type: ignore[attr-defined]
    emitter: EventEmitter[str] = EventEmitter()
    emitter.on("changed", spy)
    emitter.on("changed", livekit_compat.event_listener(received.append))
    emitter.emit("changed", "the event", "an extra")
    assert received == [("the event",), "the event"]
