"""The cost of a flow's node change in a turn: the same voicefsm agent, the same scripted model
calling a tool every turn, without a flow (the tool is the agent's own and changes nothing)
and with one (the tool is the flow's generated edge tool, and every turn changes the node).

What the flow adds per turn: the move itself, the node timeline entry, the ``flow_state``
write through the outbox, the node's instructions and tools given to the agent, and the
listeners (metrics, spans). Text sessions (``session.run``): no audio pacing, so the figures
are the framework's own time per turn. Both sessions stay open and take turns one after the
other, alternating which goes first, so drift hits both alike; the added cost is the median of
the paired differences. The turns are spread over calls of ``TURNS_PER_CALL`` turns each: a
turn's cost grows with the call's history (livekit records each change of instructions in the
chat context, one more item per node change), so a single call of hundreds of turns would
measure that history rather than the node change. Target: at most 1 ms.

    python benchmarks/flow_steps.py [--turns 200] [--json out.json]
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

from livekit.agents import AgentSession, RunContext, function_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.flows import Flow, NoData, Node
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn

#: Odd turns go to b, even ones back to a: every turn is a node change.
ASK = {"to_b": "Let us go on to the next step", "to_a": "Let us go back to the first step"}
SCRIPT = {text: ScriptedTurn(tools=(ScriptedToolCall(tool, {}),)) for tool, text in ASK.items()}
INSTRUCTIONS = "You walk the caller through two steps."
TARGET_MS = 1.0
#: Turns per call: a call's history, which every turn reads, grows with it.
TURNS_PER_CALL = 20


class TwoSteps(Flow[NoData]):
    a = Node("The first step.")
    b = Node("The second step.")

    to_b = a.to(b)
    to_a = b.to(a)


class PlainAgent(VoiceAgent):
    """The baseline: the same tools, the agent's own, moving nothing."""

    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def to_b(self, context: RunContext[None]) -> str:
        """Go on to the second step."""
        return "Done. The conversation is now at b."

    @function_tool
    async def to_a(self, context: RunContext[None]) -> str:
        """Go back to the first step."""
        return "Done. The conversation is now at a."


class FlowAgent(VoiceAgent, flow=TwoSteps):
    """The same agent, its two steps a flow."""

    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)


def _llm() -> ScriptedLLM:
    return ScriptedLLM(ttft_s=0.0, words_per_s=100_000.0, script=SCRIPT)


async def _turn(session: AgentSession[Any], tool: str) -> float:
    started = time.perf_counter()
    result = await session.run(user_input=ASK[tool])
    elapsed = (time.perf_counter() - started) * 1000
    result.expect.next_event().is_function_call(name=tool)
    return elapsed


def _summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "turns": len(samples),
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


async def _call(
    settings: Any,
    *,
    turns: int,
    warmup: int,
    index: int,
    samples: dict[str, list[float]],
    differences: list[float],
) -> int:
    """One call of each agent, side by side: ``warmup`` turns, then ``turns`` measured."""
    async with (
        open_session(
            PlainAgent(),
            providers=Providers(llm=_llm(), turn_detection="manual"),
            settings=settings,
            session_id=f"bench-no-flow-{index}",
        ) as plain,
        open_session(
            FlowAgent(),
            providers=Providers(llm=_llm(), turn_detection="manual"),
            settings=settings,
            session_id=f"bench-flow-{index}",
        ) as flowing,
    ):
        await plain.settled()
        await flowing.settled()
        for turn in range(warmup + turns):
            tool = "to_b" if turn % 2 == 0 else "to_a"
            if turn % 4 < 2:
                plain_ms = await _turn(plain.agent_session, tool)
                flow_ms = await _turn(flowing.agent_session, tool)
            else:
                flow_ms = await _turn(flowing.agent_session, tool)
                plain_ms = await _turn(plain.agent_session, tool)
            if turn >= warmup:
                samples["no_flow"].append(plain_ms)
                samples["flow"].append(flow_ms)
                differences.append(flow_ms - plain_ms)
        return len(flowing.flows.entries)


async def measure(turns: int, warmup: int = 2, per_call: int = TURNS_PER_CALL) -> dict[str, Any]:
    """``turns`` turns on each agent, in calls of ``per_call`` turns (a call's history, which
    every turn reads, stays the size of a real call's), alternating turn by turn."""
    samples: dict[str, list[float]] = {"no_flow": [], "flow": []}
    differences: list[float] = []
    node_changes = 0
    with tempfile.TemporaryDirectory(prefix="voicefsm-bench-flow-") as tmp:
        settings = load_settings(spool_path=Path(tmp) / "spool.sqlite3")
        for index in range(max(1, turns // per_call)):
            measured = min(per_call, turns)
            node_changes += await _call(
                settings,
                turns=measured,
                warmup=warmup,
                index=index,
                samples=samples,
                differences=differences,
            )
    plain_summary, flow_summary = _summary(samples["no_flow"]), _summary(samples["flow"])
    added = statistics.median(differences)
    return {
        "no_flow": plain_summary,
        "flow": flow_summary,
        "turns_per_call": per_call,
        "node_changes": node_changes,
        "added_median_ms": added,
        "ratio_median": flow_summary["median_ms"] / plain_summary["median_ms"],
        "target_ms": TARGET_MS,
        "met": added <= TARGET_MS,
    }


def line(result: dict[str, Any]) -> str:
    return (
        f"flow step: no flow {result['no_flow']['median_ms']:.2f} ms, flow "
        f"{result['flow']['median_ms']:.2f} ms median over {result['flow']['turns']} turns; "
        f"a node change adds {result['added_median_ms']:.3f} ms (target <= {TARGET_MS:g} ms: "
        f"{'met' if result['met'] else 'MISSED'}); {result['node_changes']} node changes recorded"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="measured turns per agent")
    parser.add_argument("--quick", action="store_true", help="a few turns (for CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(
        measure(6 if args.quick else args.turns, per_call=6 if args.quick else TURNS_PER_CALL)
    )
    print(line(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
