"""The package's public names are deliberate: adding or removing one is a visible change."""

import importlib
import subprocess
import sys

import voicefsm


def test_exported_names() -> None:
    assert voicefsm.__all__ == [
        "STATES",
        "TRANSITIONS",
        "Effects",
        "EndReason",
        "Lifecycle",
        "Outcome",
        "Providers",
        "Settings",
        "State",
        "Timeline",
        "TimelineEntry",
        "Trigger",
        "Utterance",
        "VoiceAgent",
        "VoiceSession",
        "__version__",
        "build_server",
        "load_settings",
        "open_session",
    ]
    assert all(hasattr(voicefsm, name) for name in voicefsm.__all__)


def test_importing_the_package_leaves_livekit_unloaded_until_it_is_needed() -> None:
    """The command line and lifecycle tests start in a fraction of livekit's import time."""
    probe = (
        "import sys, voicefsm, voicefsm.lifecycle, voicefsm.flows, voicefsm.testing\n"
        "assert not [m for m in sys.modules if m.startswith('livekit')], 'livekit imported'\n"
        "voicefsm.VoiceAgent\n"
        "assert 'livekit.agents' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)


def test_the_states_are_exactly_the_eight_of_the_mission() -> None:
    assert [s.value for s in voicefsm.State] == [
        "joining",
        "loading_context",
        "greeting",
        "listening",
        "thinking",
        "speaking",
        "persisting",
        "exiting",
    ]


def test_the_public_subpackages_export_exactly_these_names() -> None:
    """What users import besides the top level: the agent API, the lifecycle's trigger data,
    the offline providers and the test helpers. Each list is a promise, like the top level's."""
    names = [
        "voicefsm.agent",
        "voicefsm.flows",
        "voicefsm.providers",
        "voicefsm.providers.scripted",
    ]
    modules = [importlib.import_module(name) for name in [*names, "voicefsm.testing"]]
    exported = {module.__name__: module.__all__ for module in modules}
    assert exported == {
        "voicefsm.agent": [
            "DEFAULT_APOLOGY",
            "DEFAULT_FAREWELL",
            "DEFAULT_FILLER",
            "DEFAULT_INSTRUCTIONS",
            "Greeting",
            "HookContext",
            "VoiceAgent",
            "agent_graph",
            "entering",
            "leads_to",
            "leaving",
            "on_transition",
            "tool_deadline",
        ],
        "voicefsm.flows": [
            "AgentGraph",
            "AgentLink",
            "ContextPolicy",
            "EdgeSpec",
            "Flow",
            "FlowDefinition",
            "FlowEdge",
            "FlowGuard",
            "FlowStep",
            "FlowTool",
            "Mover",
            "NoData",
            "Node",
            "NodeChange",
            "NodeSpec",
            "PathStep",
            "RefusalKey",
            "StepRefusal",
            "TaskStep",
            "load_flow",
            "node_prompt",
            "result_text",
            "tools_for",
        ],
        "voicefsm.providers": ["Providers"],
        "voicefsm.providers.scripted": [
            "TTS_SAMPLE_RATE",
            "EnergyVAD",
            "ScriptedJudge",
            "ScriptedLLM",
            "ScriptedSTT",
            "ScriptedTTS",
            "ScriptedToolCall",
            "ScriptedTurn",
            "default_reply",
            "frame_energy",
            "tone",
        ],
        "voicefsm.testing": [
            "AgentHarness",
            "EdgeCase",
            "EffectCall",
            "FlowHarness",
            "HookRun",
            "InjectedEffectError",
            "NullEffects",
            "RecordingEffects",
            "edge_cases",
        ],
    }
    for module in modules:
        assert all(hasattr(module, name) for name in module.__all__)
    # The lifecycle's names: every trigger's data class is public, with the machine's own.
    trigger_data = {name for name in voicefsm.lifecycle.__all__ if name[0].isupper()}
    assert {
        "Lifecycle",
        "State",
        "Trigger",
        "Joined",
        "UserTurnCompleted",
        "HangUp",
    } <= trigger_data
    assert all(hasattr(voicefsm.lifecycle, name) for name in voicefsm.lifecycle.__all__)
