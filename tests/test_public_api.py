"""The package's public names are deliberate: adding or removing one is a visible change."""

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
        "import sys, voicefsm, voicefsm.lifecycle, voicefsm.testing\n"
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
