"""The real Deepgram STT, ElevenLabs TTS and OpenAI-compatible LLM plugins, configured from
voicefsm's settings, in a full session against protocol stubs on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents.utils import http_context

from trials.live_session import live_session
from trials.stubs.voice_vendors import vendor_stubs
from voicefsm.providers.real import build_providers
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each


async def test_a_session_on_the_real_plugins_speaks_their_wire_protocols(tmp_path: Path) -> None:
    with vendor_stubs() as stubs:
        settings = stubs.provider_settings()
        async with http_context.open():
            providers = build_providers(settings)
            async with live_session(tmp_path, providers=providers, announce=stubs.expect) as live:
                await live.converse(
                    [
                        Turn(user="Is the pool open today", pause_ms=100),
                        Turn(user="Thanks a lot", pause_ms=100),
                    ]
                )
                history = [(m.role.value, m.text) for m in live.session.record.history]
                trail = live.trail()

    assert [text for role, text in history if role == "user"] == [
        "Is the pool open today",
        "Thanks a lot",
    ]
    replies = [text for role, text in history if role == "assistant"]
    assert replies[0] == "Hello Ada! How can I help you today?"
    assert "Is the pool open today" in replies[1]  # the stub LLM's answer, spoken via ElevenLabs
    assert trail[-1] == ("persisting", "persisted", "exiting")
    # What the vendors saw on the wire.
    assert stubs.seen["deepgram.connect"] >= 1
    assert stubs.listen_queries[0]["encoding"] == "linear16"
    assert stubs.listen_queries[0]["model"] == "nova-3"
    assert stubs.seen["elevenlabs.connect"] >= 1
    assert any("Hello Ada" in text for text in stubs.tts_texts)
    assert [r["model"] for r in stubs.llm_requests] == ["stub-model", "stub-model"]
    last_user = [m for m in stubs.llm_requests[0]["messages"] if m["role"] == "user"][-1]  # type: ignore[index, union-attr]
    assert "Is the pool open today" in str(last_user["content"])
