"""The cost of a tool call through the lifecycle: the same tool, the same scripted model calling
it, on a bare livekit ``AgentSession`` running a plain livekit ``Agent`` and in a voicefsm
session running a ``VoiceAgent``, turn for turn.

Text sessions (``session.run``): no audio pacing, so the figure is the framework's own time per
turn (the model answers at once), and the difference between the two is what voicefsm adds:
the tool's timeline entries, its outbox write, the turn's lifecycle transitions and records.
Both sessions stay open and take turns one after the other, alternating which goes first, so
drift hits both alike; the added cost is the median of the paired differences.

    python benchmarks/tool_calls.py [--turns 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from livekit.agents import Agent, AgentSession, RunContext, function_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn

ASK = "What is the weather in Paris"
SCRIPT = {ASK: ScriptedTurn(tools=(ScriptedToolCall("lookup", {"city": "Paris"}),))}
INSTRUCTIONS = "You tell the weather."


async def _weather(city: str) -> str:
    return f"It is sunny in {city}."


class BareWeatherAgent(Agent):
    """The baseline: a plain livekit agent, as a LiveKit user writes one."""

    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def lookup(self, context: RunContext[None], city: str) -> str:
        """Look up the weather."""
        return await _weather(city)


class WeatherAgent(VoiceAgent):
    """The same agent on voicefsm."""

    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def lookup(self, context: RunContext[None], city: str) -> str:
        """Look up the weather."""
        return await _weather(city)


def _llm() -> ScriptedLLM:
    return ScriptedLLM(ttft_s=0.0, words_per_s=100_000.0, script=SCRIPT)


async def _turn(session: AgentSession[Any]) -> float:
    started = time.perf_counter()
    result = await session.run(user_input=ASK)
    elapsed = (time.perf_counter() - started) * 1000
    result.expect.next_event().is_function_call(name="lookup")
    return elapsed


def _summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "turns": len(samples),
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


async def measure(turns: int, warmup: int = 5) -> dict[str, Any]:
    """``turns`` tool turns on each kind, alternating turn by turn (which goes first too) with
    both sessions open, so both see the same machine at the same moment."""
    samples: dict[str, list[float]] = {"bare": [], "voicefsm": []}
    differences: list[float] = []
    with tempfile.TemporaryDirectory(prefix="voicefsm-bench-tools-") as tmp:
        settings = load_settings(spool_path=Path(tmp) / "spool.sqlite3")
        providers = Providers(llm=_llm(), turn_detection="manual")
        async with (
            AgentSession(llm=_llm(), vad=None, turn_handling={"turn_detection": "manual"}) as bare,
            open_session(
                WeatherAgent(), providers=providers, settings=settings, session_id="bench-tools"
            ) as ours,
        ):
            await bare.start(BareWeatherAgent())
            await ours.settled()
            for index in range(warmup + turns):
                if index % 2 == 0:
                    bare_ms, ours_ms = await _turn(bare), await _turn(ours.agent_session)
                else:
                    ours_ms, bare_ms = await _turn(ours.agent_session), await _turn(bare)
                if index >= warmup:
                    samples["bare"].append(bare_ms)
                    samples["voicefsm"].append(ours_ms)
                    differences.append(ours_ms - bare_ms)
            tools_seen = sum(
                1 for e in ours.lifecycle.timeline if e.trigger.value == "tool_started"
            )
    bare_summary, ours_summary = _summary(samples["bare"]), _summary(samples["voicefsm"])
    return {
        "bare": bare_summary,
        "voicefsm": ours_summary,
        "tool_calls_on_the_timeline": tools_seen,
        "added_median_ms": statistics.median(differences),
        "ratio_median": ours_summary["median_ms"] / bare_summary["median_ms"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="measured turns per kind")
    parser.add_argument("--quick", action="store_true", help="a few turns (for CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(measure(5 if args.quick else args.turns))
    print(
        f"tool turn: bare {result['bare']['median_ms']:.2f} ms, voicefsm "
        f"{result['voicefsm']['median_ms']:.2f} ms median; added {result['added_median_ms']:.2f} ms "
        f"(ratio {result['ratio_median']:.3f}); {result['tool_calls_on_the_timeline']} tool calls "
        "on the lifecycle's timeline"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
