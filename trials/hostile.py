"""Group 5, hostile input: metadata, scenario files, chat text and backend request bodies.

``run_hostile(full=False)`` is the CI size; ``full=True`` tries many more inputs and sessions.
Every family is derandomised (the same inputs on every run), so a failure reproduces.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import httpx
import yaml
from hypothesis import strategies as st

from trials.hostile_api import fuzz_backend_api
from trials.hostile_sessions import (
    fuzz_attribute_sessions,
    fuzz_chat_text,
    fuzz_metadata_sessions,
)
from trials.summary import GroupResult
from trials.trial import HOSTILE_STRINGS, JSON, KNOWN_KEYS, explore, record
from voicefsm.backend.models import API_PREFIX, SessionSummary
from voicefsm.context import (
    ParticipantMetadata,
    greeting_for,
    parse_participant_attributes,
    parse_participant_metadata,
    parse_room_metadata,
    participant_context_block,
)
from voicefsm.engine.session_record import SessionRecord
from voicefsm.lifecycle import EndReason
from voicefsm.simulation.scenario import ScenarioError, load_scenario, parse_scenario


def run_hostile(*, full: bool) -> list[GroupResult]:
    return [
        fuzz_metadata(full=full),
        fuzz_scenarios(full=full),
        fuzz_chat_text(full=full),
        fuzz_backend_api(full=full),
    ]


# -- metadata ----------------------------------------------------------------------------------

HOSTILE_VALUE = st.sampled_from(HOSTILE_STRINGS) | JSON | st.text(max_size=300)
#: Objects shaped like the contracts, every value hostile (tests/test_context.py fuzzes the
#: parsers alone; this follows the parsed value through everything the entrypoint does with it).
HOSTILE_OBJECT = st.dictionaries(
    KNOWN_KEYS | st.sampled_from(["greeting", "agent"]),
    HOSTILE_VALUE | st.dictionaries(st.sampled_from(["greeting", "language", "x"]), HOSTILE_VALUE),
    max_size=6,
)
RAW_METADATA = (
    st.sampled_from(HOSTILE_STRINGS)
    | HOSTILE_OBJECT.map(json.dumps)
    | st.binary(max_size=300)
    | st.sampled_from(["[" * 5000, "{}" * 3000, '{"a":' * 2000, "null", "1e999"])
)


#: ``participant.attributes`` as a hostile room could hand them over: any keys, any values,
#: too many of them, or not a mapping at all.
RAW_ATTRIBUTES = (
    st.dictionaries(
        st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=200) | st.integers(),
        HOSTILE_VALUE,
        max_size=80,
    )
    | HOSTILE_VALUE
    | st.builds(lambda n: {f"k{i}": "v" * 60 for i in range(n)}, st.integers(0, 200))
)


def fuzz_metadata(*, full: bool) -> GroupResult:
    result = GroupResult("fuzz: metadata")
    explore(
        result,
        RAW_METADATA,
        context_pipeline_holds,
        examples=3000 if full else 400,
        what="metadata through the context pipeline",
    )
    explore(
        result,
        RAW_ATTRIBUTES,
        attributes_pipeline_holds,
        examples=3000 if full else 400,
        what="attributes through the context pipeline",
    )
    fuzz_metadata_sessions(result, full=full)
    fuzz_attribute_sessions(result, full=full)
    return result


def attributes_pipeline_holds(raw: object) -> None:
    """What a session does with a participant's attributes (at join, and changed during the
    call) never raises, and what reaches the LLM and the summary is safe."""
    attributes = parse_participant_attributes(raw).value
    block = participant_context_block(ParticipantMetadata(), attributes)
    inner = block.split("<caller_data>", 1)[1].removesuffix("</caller_data>")
    assert block.count("<caller_data>") == 1, "attributes opened a second data block"
    assert not set(inner) & {"<", ">", "&"}, "attributes carry markup into the prompt"
    state = SessionRecord("s_1", "c_1")
    state.participant_joined("identity", ParticipantMetadata(), attributes=attributes)
    state.participant_changed("identity", attributes=attributes)
    summary = state.summary(EndReason.HANG_UP)
    SessionSummary.model_validate_json(summary.model_dump_json(by_alias=True))


def context_pipeline_holds(raw: str | bytes) -> None:
    """What the entrypoint does with metadata never raises, and what it yields is safe to use."""
    room = parse_room_metadata(raw).value
    person = parse_participant_metadata(raw).value
    assert greeting_for(room, person).isprintable(), "the greeting carries unprintable text"
    block = participant_context_block(person)
    inner = block.split("<caller_data>", 1)[1].removesuffix("</caller_data>")
    assert block.count("<caller_data>") == 1, "participant data opened a second data block"
    assert not set(inner) & {"<", ">", "&"}, "participant data carries markup into the prompt"
    if room.conversation_id is not None:
        path = f"{API_PREFIX}/conversations/{room.conversation_id}/events"
        assert httpx.URL("http://127.0.0.1" + path).path == path, (
            f"conversation id {room.conversation_id!r} changes the URL path of its writes"
        )
    state = SessionRecord("s_1", room.conversation_id or "c_1")
    state.participant_joined("identity", person)
    summary = state.summary(EndReason.HANG_UP)
    # The backend accepts the summary this participant produces (or the write is lost).
    SessionSummary.model_validate_json(summary.model_dump_json(by_alias=True))


# -- scenario files ----------------------------------------------------------------------------

SCENARIO_KEYS = st.sampled_from(
    ["turns", "room_metadata", "participant_metadata", "end", "user", "pause_ms", "llm_fail"]
)
SCENARIO_LIKE = st.recursive(
    JSON | st.sampled_from(HOSTILE_STRINGS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SCENARIO_KEYS, inner, max_size=5),
    max_leaves=25,
)
YAML_TRAPS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "a: &a [*a]",
    "? [a, b]\n: c",
    "turns: !!binary aGVsbG8=",
    "turns:\n  - user: 2001-12-14t21:59:43.10-05:00",
    "--- \n--- \nturns: []",
    "%YAML 1.1\n---\nturns: [{user: hi}]",
    "turns: [{user: hi}]\nturns: [{user: again}]",
    "\t",
    "x" * (1024 * 1024 + 1),
    "turns: [{user: 'hi', pause_ms: 1e400}]",
    "turns: [{user: 'hi', pause_ms: .nan}]",
]


def _billion_laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "turns: [{user: hi}]\nroom_metadata:\n" + "\n".join("  " + line for line in lines)


SCENARIO_TEXT = (
    st.text(max_size=500)
    | SCENARIO_LIKE.map(json.dumps)
    | SCENARIO_LIKE.map(lambda data: yaml.safe_dump(data, allow_unicode=True))
    | st.sampled_from([*YAML_TRAPS, _billion_laughs(9)])
)


def parses_or_says_why(text: str) -> None:
    try:
        parse_scenario(text)
    except ScenarioError as exc:
        reason = str(exc)
    else:
        return
    # A clear reason, not the input echoed back at any length.
    assert len(reason) < 2000, f"the error message is {len(reason)} characters long"


def fuzz_scenarios(*, full: bool) -> GroupResult:
    result = GroupResult("fuzz: scenario files")
    explore(
        result,
        SCENARIO_TEXT,
        parses_or_says_why,
        examples=3000 if full else 400,
        what="scenario text",
    )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scenario.yaml"

        def loads_or_says_why(raw: bytes) -> None:
            path.write_bytes(raw)
            with contextlib.suppress(ScenarioError):
                load_scenario(path)

        explore(
            result,
            st.binary(max_size=400) | st.just(b"\xff\xfeturns: []"),
            loads_or_says_why,
            examples=300 if full else 50,
            what="scenario file bytes",
        )
    record(result, "a missing scenario file", lambda: _refused(Path("/nonexistent/x.yaml")))
    return result


def _refused(path: Path) -> None:
    try:
        load_scenario(path)
    except ScenarioError:
        return
    raise AssertionError(f"{path} was accepted")
