"""Cost of one lifecycle event: voicefsm vs a bare transitions.Machine vs a hand-written dict FSM.

Each implementation runs the conversation cycle listening -> thinking -> speaking -> listening
(one event = one trigger, including the timeline record where the implementation keeps one).
They are interleaved round-robin in batches of one "session" each, in one process, so that drift
in the machine's speed hits all of them equally. Prints median / p95 / p99 in microseconds and
ratios; asserts nothing.

    python benchmarks/lifecycle_event.py            # 60,000 events each
    python benchmarks/lifecycle_event.py --quick    # a few thousand, for CI
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import transitions
from transitions import Machine

import voicefsm
from voicefsm.lifecycle import (
    Joined,
    Lifecycle,
    ReplyFinished,
    ReplyStarted,
    Resumed,
    UserTurnCompleted,
)
from voicefsm.testing import NullEffects

CYCLE = ("user_turn_completed", "reply_started", "reply_finished")
SESSION_EVENTS = 300  # events per session before a fresh machine (a long real call)

Step = Callable[[], object]


def voicefsm_session() -> list[Step]:
    lifecycle = Lifecycle(NullEffects())
    lifecycle.fire(Joined())
    lifecycle.fire(Resumed())

    def user_turn() -> object:
        return lifecycle.fire(UserTurnCompleted(text="What's on today?"))

    def started() -> object:
        return lifecycle.fire(ReplyStarted(turn=lifecycle.turn))

    def finished() -> object:
        return lifecycle.fire(ReplyFinished(turn=lifecycle.turn, spoken="Not much."))

    return [user_turn, started, finished]


def bare_transitions_session() -> list[Step]:
    """The same three edges on a plain transitions.Machine: no guards, callbacks or timeline."""
    model = type("Model", (), {})()
    Machine(
        model=model,
        states=["listening", "thinking", "speaking"],
        transitions=[
            {"trigger": "user_turn_completed", "source": "listening", "dest": "thinking"},
            {"trigger": "reply_started", "source": "thinking", "dest": "speaking"},
            {"trigger": "reply_finished", "source": "speaking", "dest": "listening"},
        ],
        initial="listening",
        auto_transitions=False,
    )
    return [getattr(model, name) for name in CYCLE]


def dict_fsm_session() -> list[Step]:
    """The floor: a dict lookup, a state assignment and a timeline append."""
    table = {
        ("listening", "user_turn_completed"): "thinking",
        ("thinking", "reply_started"): "speaking",
        ("speaking", "reply_finished"): "listening",
    }
    session = {"state": "listening"}
    timeline: list[tuple[float, str, str, str]] = []

    def step(trigger: str) -> Step:
        def fire() -> object:
            source = session["state"]
            dest = table.get((source, trigger))
            if dest is None:
                return False
            session["state"] = dest
            timeline.append((time.monotonic(), source, dest, trigger))
            return True

        return fire

    return [step(name) for name in CYCLE]


IMPLEMENTATIONS: dict[str, Callable[[], list[Step]]] = {
    "voicefsm Lifecycle": voicefsm_session,
    "bare transitions.Machine": bare_transitions_session,
    "hand-written dict FSM": dict_fsm_session,
}


def run_session(make: Callable[[], list[Step]], samples: list[int]) -> None:
    steps = make()
    clock = time.perf_counter_ns
    for index in range(SESSION_EVENTS):
        step = steps[index % 3]
        start = clock()
        step()
        samples.append(clock() - start)


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000, help="events per implementation")
    parser.add_argument("--quick", action="store_true", help="a few thousand events (for CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sessions = max(2, (3_000 if args.quick else args.events) // SESSION_EVENTS)

    samples: dict[str, list[int]] = {name: [] for name in IMPLEMENTATIONS}
    for make in IMPLEMENTATIONS.values():  # warm-up, discarded
        run_session(make, [])
    for _ in range(sessions):
        for name, make in IMPLEMENTATIONS.items():
            run_session(make, samples[name])
    gc.collect()

    rows = {}
    for name, ns in samples.items():
        ns.sort()
        rows[name] = {
            "events": len(ns),
            "median_us": statistics.median(ns) / 1000,
            "p95_us": percentile(ns, 0.95),
            "p99_us": percentile(ns, 0.99),
        }
    floor = rows["hand-written dict FSM"]["median_us"]
    bare = rows["bare transitions.Machine"]["median_us"]

    print(f"One lifecycle event (trigger + timeline record), {sessions} interleaved sessions")
    print(
        f"python {platform.python_version()}, transitions {transitions.__version__}, "
        f"voicefsm {voicefsm.__version__}, {platform.machine()}"
    )
    print(
        f"{'implementation':<28}{'events':>8}{'median µs':>12}{'p95 µs':>10}{'p99 µs':>10}"
        f"{'x dict':>9}{'x bare':>9}"
    )
    for name, row in rows.items():
        print(
            f"{name:<28}{row['events']:>8}{row['median_us']:>12.2f}{row['p95_us']:>10.2f}"
            f"{row['p99_us']:>10.2f}{row['median_us'] / floor:>9.1f}{row['median_us'] / bare:>9.2f}"
        )
    ours = rows["voicefsm Lifecycle"]
    print(
        f"target: median <= 30 µs ({'met' if ours['median_us'] <= 30 else 'MISSED'}), "
        f"p99 <= 100 µs ({'met' if ours['p99_us'] <= 100 else 'MISSED'})"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
