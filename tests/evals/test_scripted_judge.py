"""Judged expectations offline: ``ScriptedJudge`` answers LiveKit's evals judge as it answers
``RunResult.judge``, so a suite with ``expect.judge`` runs with no model at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit.agents import AgentServer

from trials.support import Backend
from voicefsm.providers.scripted import ScriptedJudge
from voicefsm.settings import load_settings
from voicefsm.simulation import serving
from voicefsm.simulation.harness import SimulationModels
from voicefsm.simulation.runner import simulate_suite
from voicefsm.simulation.scenario import parse_scenario


@pytest.mark.slow
async def test_a_scripted_judge_grades_judged_statements_on_the_call_it_is_shown(
    tmp_path: Path, backend: Backend
) -> None:
    judges: list[ScriptedJudge] = []

    def judge() -> ScriptedJudge:
        judges.append(ScriptedJudge(lambda statement, call: statement.split()[-1] in call))
        return judges[-1]

    scenario = parse_scenario(
        "turns: [{user: Is Friday possible, reply: 'Friday works.'}]\n"
        "expect: {judge: ['the agent said Friday', 'the agent said Saturday']}"
    )
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    result = await simulate_suite(
        [("judged", scenario)], settings, fast=True, models=SimulationModels(judge=judge)
    )
    [session] = result.sessions
    assert [(e["expect"], e["ok"], e["seen"]) for e in session["expectations"]] == [
        ("judge 'the agent said Friday'", True, "pass"),
        ("judge 'the agent said Saturday'", False, "fail"),
    ]
    [used] = judges
    statement, conversation, _ = used.verdicts[0]
    assert statement == "the agent said Friday"
    assert "user: Is Friday possible" in conversation
    assert "assistant: Friday works." in conversation


@pytest.mark.slow
async def test_a_session_livekit_never_starts_is_reported_not_waited_for(
    tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job livekit accepts and never runs (seen once under load: the scheduler polled for
    it for ever) fails its run as "not started" once the start deadline passes."""

    async def never_starts(self: AgentServer, *args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(AgentServer, "simulate_job", never_starts)
    monkeypatch.setattr(serving, "START_TIMEOUT_S", 0.5)
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    async with asyncio.timeout(60):  # without the deadline this waits for ever
        result = await simulate_suite(
            [("lost", parse_scenario("turns: [{user: Hello}]"))], settings, fast=True
        )
    [session] = result.sessions
    assert (session["final_state"], session["stuck"]) == ("not started", True)
    assert not result.ok
