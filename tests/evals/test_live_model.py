"""The configured model in a simulation: the agent's (``--llm live``), the judge of judged
expectations, and a model-played caller, each through the HTTP client the worker uses
(livekit's OpenAI plugin at ``VOICEFSM_LLM_BASE_URL``), against a loopback server speaking the
Chat Completions protocol whose answers each test scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trials.stubs.chat_script import ChatReply, ChatRequest, call, say, verdict
from trials.stubs.voice_vendors import LLM_KEY, vendor_stubs
from trials.support import Backend
from voicefsm.providers.real import build_llm
from voicefsm.settings import Settings, load_settings
from voicefsm.simulation.harness import SimulationModels
from voicefsm.simulation.runner import simulate_suite
from voicefsm.simulation.scenario import parse_scenario

pytestmark = pytest.mark.slow
NUMBERS = {"two": 2, "four": 4, "five": 5}


def booking_model(request: ChatRequest) -> ChatReply:
    """A model that books the party size it hears, then says it did."""
    if request.answered_tools:
        return say("It is booked.")
    words = request.last_user.lower().split()
    size = next((NUMBERS[w] for w in words if w in NUMBERS), None)
    if "book_table" in request.tools and size is not None:
        return call("book_table", day="Friday", time="20:00", people=size)
    return say("We open at six.")


SCENARIOS = {
    "books_five.yaml": "turns: [{user: Book a table for five on Friday at eight}]\n"
    "expect: {tools: [{name: book_table, arguments: {people: 5, day: Friday}}]}",
    "books_four.yaml": "turns: [{user: Book a table for four on Friday at eight}]\n"
    "expect: {tools: [{name: book_table, arguments: {people: 5}}]}",
    "asks_only.yaml": "turns: [{user: What time do you open}]\nexpect: {tools: [book_table]}",
}


def test_without_scripted_tools_a_scenario_passes_or_fails_on_the_tools_the_model_calls(
    tmp_path: Path, backend: Backend
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name, text in SCENARIOS.items():
        parse_scenario(text)
        (suite / name).write_text(text)
    junit = tmp_path / "reports" / "simulate.xml"
    with vendor_stubs() as stubs:
        stubs.respond = booking_model
        result = subprocess.run(
            [
                *(sys.executable, "-m", "voicefsm", "simulate", "--fast", "--llm", "live"),
                *("--scenario", str(suite), "--json", "--junit", str(junit)),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "VOICEFSM_SPOOL_PATH": str(tmp_path / "spool.sqlite3"),
                "VOICEFSM_BACKEND_URL": backend.url,
                "VOICEFSM_LLM_BASE_URL": f"{stubs.url}/v1",
                "VOICEFSM_LLM_API_KEY": LLM_KEY,
                "VOICEFSM_LLM_MODEL": "stub-model",
            },
        )
        agent_requests = [r for r in stubs.llm_requests if "book_table" in json.dumps(r)]
    assert result.returncode == 1, result.stderr[-3000:]
    sessions = {Path(s["scenario"]).name: s for s in json.loads(result.stdout)["sessions"]}
    failures = {
        name: [e.get("failure") for e in s["expectations"] if not e["ok"]]
        for name, s in sessions.items()
    }
    assert failures == {
        "asks_only.yaml": ["book_table was not called (the model called no tool)"],
        "books_five.yaml": [],
        "books_four.yaml": [
            "turn 1: expected book_table(people=5); book_table got people 4, expected 5"
        ],
    }
    # The model really answered, through the agent's tools: it was offered book_table and
    # told its result; the agent's own tool ran and wrote its booking.
    assert agent_requests
    [booked] = sessions["books_five.yaml"]["tools"]
    assert booked["arguments"] == {"day": "Friday", "time": "20:00", "people": 5}
    assert booked["result"].startswith("Booked: a table for 5 on Friday at 20:00")
    # JUnit for the CI system: one case per scenario, the failures saying what differed.
    root = ET.parse(junit).getroot()
    cases = {Path(c.get("name", "")).name: c for c in root.iter("testcase")}
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    assert cases["books_five.yaml"].find("failure") is None
    failure = cases["books_four.yaml"].find("failure")
    assert failure is not None
    assert "book_table got people 4, expected 5" in (failure.get("message") or "")


def live_settings(tmp_path: Path, backend: Backend, url: str) -> Settings:
    return load_settings(
        spool_path=tmp_path / "spool.sqlite3",
        backend_url=backend.url,
        llm_base_url=f"{url}/v1",
        llm_api_key=LLM_KEY,
        llm_model="stub-model",
    )


def configured(settings: Settings) -> SimulationModels:
    def model() -> object:
        return build_llm(settings)

    return SimulationModels(caller=model, judge=model)  # type: ignore[arg-type]


async def test_a_judged_expectation_holds_or_fails_on_the_judges_verdict(
    tmp_path: Path, backend: Backend
) -> None:
    judged: list[str] = []

    def judge(request: ChatRequest) -> ChatReply:
        assert request.is_judge  # the agent's model is the scripted one here
        prompt = request.last_user
        judged.append(prompt)
        if "confirmed the day" in prompt and "Friday" in prompt:
            return verdict("pass", "the agent repeated Friday back")
        return verdict("fail", "no discount was offered")

    scenario = parse_scenario(
        "turns: [{user: Is Friday possible, reply: 'Friday works, yes.'}]\n"
        "expect: {judge: ['the agent confirmed the day', 'the agent offered a discount']}"
    )
    with vendor_stubs() as stubs:
        stubs.respond = judge
        settings = live_settings(tmp_path, backend, stubs.url)
        result = await simulate_suite(
            [("judged", scenario)], settings, fast=True, models=configured(settings)
        )
    [session] = result.sessions
    checks = {e["expect"]: e for e in session["expectations"]}
    held = checks["judge 'the agent confirmed the day'"]
    missed = checks["judge 'the agent offered a discount'"]
    assert (held["ok"], held["seen"], held["reason"]) == (
        True,
        "pass",
        "the agent repeated Friday back",
    )
    assert (missed["ok"], missed["failure"]) == (False, "judged fail: no discount was offered")
    assert not result.ok
    # LiveKit's judge was shown the call as the agent's model saw it.
    assert len(judged) == 2
    assert all("Is Friday possible" in p and "Friday works, yes." in p for p in judged)


async def test_a_model_played_caller_talks_until_its_goal_is_met(
    tmp_path: Path, backend: Backend
) -> None:
    def caller(request: ChatRequest) -> ChatReply:
        assert request.is_caller
        assert "Ada, a regular" in request.system
        assert "a table for two" in request.system
        if "Patient" in request.system:
            return say("I keep asking")
        heard = [m for m in request.messages if m["role"] == "user"]
        if "Thanks, I heard" in json.dumps(heard):  # the agent answered the request
            return call("finish_call", goal_reached=True, reason="the agent took the booking")
        return say("Hello, a table for two on Friday please")

    scenarios = [
        ("goal", parse_scenario("caller: {persona: 'Ada, a regular', goal: a table for two}")),
        (
            "endless",
            parse_scenario(
                "caller: {persona: 'Ada, a regular. Patient.', goal: a table for two, max_turns: 2}"
            ),
        ),
    ]
    with vendor_stubs() as stubs:
        stubs.respond = caller
        settings = live_settings(tmp_path, backend, stubs.url)
        result = await simulate_suite(scenarios, settings, fast=True, models=configured(settings))
    reached, endless = result.sessions
    assert reached["caller"] == {
        "goal_reached": True,
        "reason": "the agent took the booking",
        "turns": 1,
        "said": ["Hello, a table for two on Friday please"],
    }
    assert [(m["role"], m["text"][:20]) for m in reached["history"]] == [
        ("assistant", "Hello! How can I hel"),
        ("user", "Hello, a table for t"),
        ("assistant", "Thanks, I heard: Hel"),
        ("assistant", "Thanks for calling. "),
    ]
    assert all(e["ok"] for e in reached["expectations"])
    assert reached["end_reason"] == "hang_up"
    # A caller that never gets there runs out of turns, and says so.
    assert endless["caller"]["goal_reached"] is False
    assert endless["caller"]["said"] == ["I keep asking", "I keep asking"]
    [goal] = endless["expectations"]
    assert (goal["ok"], goal["failure"]) == (False, "no goal reached in 2 turns")
