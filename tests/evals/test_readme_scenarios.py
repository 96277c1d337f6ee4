"""The README's scenarios run as written: the example agent's suite (its packaged scenario and
the README's) as one command, the ones for the real model against a loopback model, and the CI
job's command line is one ``voicefsm simulate`` accepts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from trials.stubs.chat_script import ChatReply, ChatRequest, call, say, verdict
from trials.stubs.voice_vendors import LLM_KEY, vendor_stubs
from voicefsm.cli import build_parser
from voicefsm.simulation.scenario import parse_scenario

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(
    r"<!-- (scenario|scenario-live|ci): (\S+) -->\n```\w+\n(.*?)```",
    README.read_text(),
    flags=re.DOTALL,
)


def blocks(kind: str) -> dict[str, str]:
    return {name: code for found, name, code in BLOCKS if found == kind}


def test_the_readme_shows_scenarios_for_both_models_and_a_ci_job() -> None:
    assert set(blocks("scenario")) == {"too_many.yaml", "hurried.yaml"}
    assert set(blocks("scenario-live")) == {"booking.yaml", "regular.yaml"}
    for code in [*blocks("scenario").values(), *blocks("scenario-live").values()]:
        parse_scenario(code)


def test_the_ci_jobs_command_is_one_simulate_accepts() -> None:
    [workflow] = blocks("ci").values()
    steps = yaml.safe_load(workflow)["jobs"]["simulate"]["steps"]
    [command] = [step["run"] for step in steps if "voicefsm simulate" in step.get("run", "")]
    arguments = build_parser().parse_args(shlex.split(command)[1:])
    assert arguments.fast
    assert arguments.junit == Path("reports/scenarios.xml")


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicefsm", "simulate", "--fast", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)} | (env or {}),
    )


@pytest.mark.slow
def test_the_example_agents_scenarios_run_as_one_suite_in_one_command(tmp_path: Path) -> None:
    suite = tmp_path / "scenarios"
    suite.mkdir()
    example = files("voicefsm.simulation").joinpath("example.json").read_text()
    (suite / "example.json").write_text(example)
    for name, code in blocks("scenario").items():
        (suite / name).write_text(code)
    report = tmp_path / "junit.xml"
    result = run(tmp_path, "--scenario", str(suite), "--junit", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 sessions: 3 passed, 0 failed" in result.stdout
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "0")


#: What the agent's model does, by what it last heard (the first match wins).
AGENT_RULES = (
    ("please book it", call("book_table", day="Friday", time="20:00", people=5)),
    ("five this friday", say("Friday at eight for five people: shall I book it?")),
    ("two on saturday", call("book_table", day="Saturday", time="19:00", people=2)),
)


def the_caller(request: ChatRequest) -> ChatReply:
    agent_said = " ".join(str(m["content"]) for m in request.messages if m["role"] == "user")
    if "Booked" in agent_said:
        return call("finish_call", goal_reached=True, reason="booked for two on Saturday")
    return say("A table for two on Saturday evening please, by the window")


def a_model(request: ChatRequest) -> ChatReply:
    """A model that books as the README's scenarios expect, judges, and plays the caller."""
    if request.is_judge:
        return verdict("pass", "Friday, eight and five were repeated before the booking")
    if request.is_caller:
        return the_caller(request)
    if request.answered_tools:
        return say("Booked. See you then.")
    heard = request.last_user.lower()
    return next((reply for words, reply in AGENT_RULES if words in heard), say("How can I help?"))


@pytest.mark.slow
def test_the_readmes_scenarios_for_the_real_model_pass_against_one(tmp_path: Path) -> None:
    suite = tmp_path / "live"
    suite.mkdir()
    for name, code in blocks("scenario-live").items():
        (suite / name).write_text(code)
    with vendor_stubs() as stubs:
        stubs.respond = a_model
        result = run(
            tmp_path,
            *("--llm", "live", "--scenario", str(suite), "--json"),
            env={
                "VOICEFSM_LLM_BASE_URL": f"{stubs.url}/v1",
                "VOICEFSM_LLM_API_KEY": LLM_KEY,
                "VOICEFSM_LLM_MODEL": "stub-model",
            },
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sessions = {Path(s["scenario"]).name: s for s in json.loads(result.stdout)["sessions"]}
    judged = sessions["booking.yaml"]["expectations"][-1]
    assert (judged["seen"], judged["reason"]) == (
        "pass",
        "Friday, eight and five were repeated before the booking",
    )
    assert sessions["regular.yaml"]["caller"]["goal_reached"] is True
