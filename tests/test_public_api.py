"""The package's public names are deliberate: adding or removing one is a visible change."""

import voicefsm


def test_exported_names() -> None:
    assert voicefsm.__all__ == [
        "STATES",
        "TRANSITIONS",
        "Effects",
        "EndReason",
        "Lifecycle",
        "Outcome",
        "State",
        "Timeline",
        "TimelineEntry",
        "Trigger",
        "Utterance",
        "__version__",
        "build_lifecycle",
    ]
    assert all(hasattr(voicefsm, name) for name in voicefsm.__all__)


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
