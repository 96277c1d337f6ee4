"""livekit's turn handling is reachable from settings and ``build_server``, voicefsm's defaults
unchanged; with preemptive generation on, turns still go through the lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import inference

from trials.live_session import live_session, session_settings
from voicefsm.engine.assembly import build_agent_session
from voicefsm.lifecycle import Trigger
from voicefsm.providers import Providers
from voicefsm.providers.real import build_providers
from voicefsm.providers.scripted import EnergyVAD, ScriptedLLM, ScriptedSTT, ScriptedTTS
from voicefsm.providers.turns import turn_handling
from voicefsm.simulation.scenario import Turn

KEYS = {
    "deepgram_api_key": "dg-test",
    "eleven_api_key": "el-test",
    "livekit_api_key": "lk-key",
    "livekit_api_secret": "lk-secret-value-0123456789abcdefghijklmnop",
    "vad": "none",
}


async def test_voicefsms_defaults_are_unchanged(tmp_path: Path) -> None:
    """STT endpointing, livekit's interruptions, no preemptive generation."""
    settings = session_settings(tmp_path, None, **KEYS)
    options = build_agent_session(build_providers(settings), settings).options
    assert options.turn_handling["turn_detection"] == "stt"
    assert options.preemptive_generation["enabled"] is False
    assert options.interruption["enabled"] is True
    assert (options.interruption["min_duration"], options.interruption["min_words"]) == (0.5, 0)


async def test_settings_reach_livekits_session(tmp_path: Path) -> None:
    settings = session_settings(
        tmp_path,
        None,
        **KEYS
        | {
            "vad": "silero",
            "turn_detection": "model",
            "preemptive_generation": True,
            "min_interruption_duration_s": 0.8,
            "min_interruption_words": 2,
        },
    )
    options = build_agent_session(build_providers(settings), settings).options
    detector = options.turn_handling["turn_detection"]
    assert isinstance(detector, inference.TurnDetector)
    assert detector.model == "turn-detector-v1-mini"  # local: livekit ships its weights
    assert options.preemptive_generation["enabled"] is True
    assert (options.interruption["min_duration"], options.interruption["min_words"]) == (0.8, 2)


async def test_build_server_options_lay_over_the_settings_section_by_section(
    tmp_path: Path,
) -> None:
    """What ``build_server(..., turn_handling=...)`` passes the job: one interruption key
    changed, the others kept from the settings."""
    settings = session_settings(tmp_path, None, **KEYS | {"min_interruption_duration_s": 0.9})
    providers = build_providers(settings, {"interruption": {"min_words": 3}})
    options = build_agent_session(providers, settings).options
    assert (options.interruption["min_duration"], options.interruption["min_words"]) == (0.9, 3)


def test_build_server_hands_its_turn_handling_to_the_job_entrypoint(tmp_path: Path) -> None:
    """The server's entrypoint (pickled into each job process) carries the options."""
    import pickle  # noqa: PLC0415

    from voicefsm import build_server  # noqa: PLC0415
    from voicefsm.agent import VoiceAgent  # noqa: PLC0415

    settings = session_settings(tmp_path, None, **KEYS)
    turns = {"turn_detection": inference.TurnDetector(version="v1-mini")}
    server = build_server(VoiceAgent, settings, turn_handling=turns)  # type: ignore[arg-type]
    [entrypoint] = [value for value in vars(server).values() if getattr(value, "keywords", None)]
    carried = pickle.loads(pickle.dumps(entrypoint)).keywords["turns"]  # noqa: S301 (our own)
    assert isinstance(carried["turn_detection"], inference.TurnDetector)


@pytest.mark.slow
async def test_with_preemptive_generation_on_turns_still_go_through_the_lifecycle(
    tmp_path: Path,
) -> None:
    """livekit starts a reply early; the lifecycle still takes every turn and answers it with
    its own reply, so each answered turn costs one more LLM request (the early one, dropped)."""
    stt, llm = ScriptedSTT(end_silence_s=0.2), ScriptedLLM(ttft_s=0.1)
    settings = session_settings(tmp_path, None, **KEYS | {"preemptive_generation": True})
    providers = Providers(
        llm=llm,
        stt=stt,
        tts=ScriptedTTS(chars_per_s=30.0),
        # livekit 1.8.9 generates preemptively on a VAD's turn ends (or an STT's preflight
        # transcripts, which the scripted STT does not send).
        vad=EnergyVAD(),
        turn_detection="vad",
        min_endpointing_delay_s=0.2,
        turn_handling=turn_handling(settings) | {"turn_detection": "vad"},
    )
    turns = [Turn(user="Do you open on Sunday"), Turn(user="And on Monday")]
    async with live_session(tmp_path, providers=providers, announce=stt.expect) as live:
        assert live.session.agent_session.options.preemptive_generation["enabled"] is True
        await live.converse(turns)
    triggers = [entry.trigger for entry in live.session.lifecycle.timeline]
    assert triggers.count(Trigger.USER_TURN_COMPLETED) == 2
    assert triggers.count(Trigger.REPLY_FINISHED) == 2
    said = [m.text for m in live.session.record.history if m.role.value == "assistant"]
    assert said[1:3] == [
        "Thanks, I heard: Do you open on Sunday. Happy to help with that.",
        "Thanks, I heard: And on Monday. Happy to help with that.",
    ]
    print("LLM requests for 2 turns with preemptive generation on:", llm.calls)
    assert llm.calls > 2  # the lifecycle's two replies and livekit's preemptive requests
