"""Whole sessions on a real AgentSession (scripted providers, simulated audio, no room)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trials.live_session import live_session
from trials.support import Backend
from voicefsm.lifecycle import EndReason, State
from voicefsm.providers import Providers
from voicefsm.providers.scripted import EnergyVAD, ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each


async def test_greeting_turns_and_hang_up_are_recorded_and_persisted(
    tmp_path: Path, backend: Backend
) -> None:
    async with live_session(tmp_path, backend_url=backend.url) as live:
        await live.converse([Turn(user="What time do you open"), Turn(user="And on Sunday")])
        trail = live.trail()
        history = live.session.record.history

    assert trail[:3] == [
        ("joining", "joined", "loading_context"),
        ("loading_context", "context_loaded", "greeting"),
        ("greeting", "greeted", "listening"),
    ]
    assert trail.count(("listening", "user_turn_completed", "thinking")) == 2
    assert trail.count(("speaking", "reply_finished", "listening")) == 2
    assert trail[-3:] == [
        ("listening", "hang_up", "persisting"),
        ("persisting", "spoke", "persisting"),  # the farewell, heard
        ("persisting", "persisted", "exiting"),
    ]
    assert [(m.role.value, m.interrupted) for m in history] == [
        ("assistant", False),
        ("user", False),
        ("assistant", False),
        ("user", False),
        ("assistant", False),
        ("assistant", False),
    ]
    assert history[0].text == "Hello Ada! How can I help you today?"
    assert history[1].text == "What time do you open"
    assert "What time do you open" in history[2].text
    assert history[-1].text == "Thanks for calling. Goodbye!"
    assert live.session.lifecycle.end_reason is EndReason.HANG_UP
    # Every message reached the backend, exactly once.
    keys = backend.stored_keys()
    assert len(keys) == len(set(keys))
    assert {m.id for m in history} <= set(keys)


async def test_barge_in_keeps_only_what_was_spoken(tmp_path: Path) -> None:
    async with live_session(tmp_path) as live:
        live.llm._reply = lambda text: (
            "Well, " + " ".join(["let me tell you a rather long story"] * 4) + "."
        )
        await live.converse(
            [
                Turn(user="Tell me a story"),
                Turn(user="Stop, that is enough", interrupt_after_ms=400),
            ]
        )
        trail = live.trail()
        history = live.session.record.history

    assert ("speaking", "interrupted", "listening") in trail
    cut = [m for m in history if m.interrupted]
    assert len(cut) == 1
    full = "Well, " + " ".join(["let me tell you a rather long story"] * 4) + "."
    assert cut[0].role.value == "assistant"
    assert 0 < len(cut[0].text) < len(full)
    assert full.startswith(cut[0].text.rstrip(".,"))
    # The user's barge-in was answered in full afterwards.
    assert history[history.index(cut[0]) + 1].text == "Stop, that is enough"


async def test_a_failed_reply_is_retried_one_that_keeps_failing_gets_an_apology(
    tmp_path: Path,
) -> None:
    """Once: retried in place, heard once. Twice: an apology, then listening; the
    conversation goes on either way."""
    async with live_session(tmp_path) as live:
        await live.converse(
            [
                Turn(user="Flaky question", llm_fail=1),
                Turn(user="Broken question", llm_fail=2),
                Turn(user="Are you there"),
            ]
        )
        trail = live.trail()
        history = live.session.record.history

    assert ("thinking", "reply_failed", "thinking") in trail  # retried in place
    assert ("thinking", "reply_failed", "listening") in trail  # then given up on
    assert [m.text for m in history if m.role.value == "user"] == [
        "Flaky question",
        "Broken question",
        "Are you there",
    ]
    assert (
        sum(1 for m in history if "Flaky question" in m.text and m.role.value == "assistant") == 1
    )
    assert "Are you there" in history[-2].text  # the next turn was answered normally
    assert live.session.record.counters.errors  # the failures were counted and written


async def test_typed_chat_takes_the_same_path_as_speech(tmp_path: Path) -> None:
    async with live_session(tmp_path) as live:
        lifecycle = live.session.lifecycle
        while lifecycle.state is not State.LISTENING:
            await asyncio.sleep(0.05)
        await live.session.typed_text("Typed hello")
        while not (lifecycle.state is State.LISTENING and lifecycle.turn == 1):
            await asyncio.sleep(0.05)
        history = live.session.record.history
        assert [m.text for m in history[1:2]] == ["Typed hello"]
        assert "Typed hello" in history[2].text


async def test_a_participant_leaving_gets_no_farewell_and_everything_is_spooled(
    tmp_path: Path,
) -> None:
    async with live_session(tmp_path) as live:
        await live.converse([Turn(user="Quick question")], end="participant_left")
        history = live.session.record.history
        stats = await live.outbox.stats() if live.outbox else None

    assert live.session.lifecycle.end_reason is EndReason.PARTICIPANT_LEFT
    assert "Goodbye" not in history[-1].text
    assert stats is not None
    assert stats.spooled == stats.submitted > len(history)  # messages, events and the summary


async def test_turns_and_barge_in_also_work_on_the_energy_vad(tmp_path: Path) -> None:
    """Turn ends and interruptions detected by a VAD (livekit's VAD path), not by the STT."""
    stt, llm = ScriptedSTT(end_silence_s=0.2), ScriptedLLM(ttft_s=0.1)
    llm._reply = lambda text: (
        "Sure, " + " ".join(["here is a fairly long answer for you"] * 3) + "."
    )
    providers = Providers(
        stt=stt,
        llm=llm,
        tts=ScriptedTTS(chars_per_s=30.0),
        vad=EnergyVAD(),
        turn_detection="vad",
        min_endpointing_delay_s=0.2,
    )
    async with live_session(tmp_path, providers=providers, announce=stt.expect) as live:
        live.llm = llm
        await live.converse(
            [
                Turn(user="First question", pause_ms=100),
                Turn(user="Wait a moment", interrupt_after_ms=500),
            ]
        )
        trail = live.trail()
        history = live.session.record.history

    assert ("speaking", "interrupted", "listening") in trail
    assert [m.text for m in history if m.role.value == "user"] == [
        "First question",
        "Wait a moment",
    ]
