"""Judged expectations offline: ``ScriptedJudge`` answers LiveKit's evals judge as it answers
``RunResult.judge``, so a suite with ``expect.judge`` runs with no model at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from trials.support import Backend
from voicefsm.providers.scripted import ScriptedJudge
from voicefsm.settings import load_settings
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
