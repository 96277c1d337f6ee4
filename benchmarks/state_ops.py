"""State operation cost: one lifecycle event with its history append and outbox hand-off.

* voicefsm: ``Lifecycle.fire`` (guards, callbacks, timeline) whose effects append to the in-memory
  ``SessionRecord`` and hand the message to the ``Outbox`` (a queue put);
* the seed's "before" design: a Redis-backed state manager, one ``RPUSH`` of the message (JSON)
  per event through redis-py's asyncio client to a real redis-server on 127.0.0.1;
* the floor: a hand-written dict FSM appending to a Python list.

Interleaved in batches in one process, so machine drift hits all three alike.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from trials.support import free_port
from voicefsm.engine.session_record import MessageWrite, SessionRecord
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import (
    Joined,
    Lifecycle,
    ReplyFinished,
    ReplyStarted,
    Resumed,
    UserTurnCompleted,
    Utterance,
)
from voicefsm.persistence.outbox import Outbox
from voicefsm.testing import NullEffects

BATCH = 300
CONVERSATION = ConversationId("c1")


class _Effects(NullEffects):
    """The voice path's real work for a message: append to history, hand to the outbox."""

    def __init__(self, session_record: SessionRecord, outbox: Outbox) -> None:
        self.session_record, self.outbox = session_record, outbox

    def record(self, utterance: Utterance) -> None:
        item = self.session_record.append(utterance)
        # As the engine does (SessionWrites.utterance): built on the outbox's writer thread.
        message = MessageWrite(self.session_record.session_id, item)
        self.outbox.submit_built(CONVERSATION, item.id, message)


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        msg = "redis-server is not installed (benchmarks/run installs it from Debian's packages)"
        raise RuntimeError(msg)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (a fixed binary from PATH, loopback only)
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    process.kill()
    msg = "redis-server did not start"
    raise RuntimeError(msg)


def _summary(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return {
        "events": len(ordered),
        "median_us": statistics.median(ordered) / 1000,
        "p95_us": pick(0.95),
        "p99_us": pick(0.99),
    }


async def measure(events: int) -> dict[str, Any]:
    process, port = start_redis()
    client = redis.Redis(host="127.0.0.1", port=port)
    samples: dict[str, list[int]] = {"voicefsm": [], "redis_rpush": [], "dict_fsm": []}
    clock = time.perf_counter_ns
    try:
        with tempfile.TemporaryDirectory() as tmp:
            outbox = Outbox(Path(tmp) / "spool.sqlite3", None, max_pending=10 * events + 1000)
            await outbox.start()
            payload = json.dumps(
                {"role": "user", "text": "What time do you open on Friday?", "turn": 1}
            )
            rounds = max(1, events // BATCH)
            for round_index in range(rounds):
                # voicefsm: user turn (history + outbox) and reply events, a fresh session per batch
                state = SessionRecord(SessionId(f"s{round_index}"), CONVERSATION)
                lifecycle = Lifecycle(_Effects(state, outbox))
                lifecycle.fire(Joined())
                lifecycle.fire(Resumed())
                cycle = [
                    lambda _turn: UserTurnCompleted("What time do you open on Friday?"),
                    ReplyStarted,
                    lambda turn: ReplyFinished(turn, "From nine."),
                ]
                for index in range(BATCH):
                    make = cycle[index % 3]
                    start = clock()  # building the trigger's data is part of firing it
                    lifecycle.fire(make(lifecycle.turn))
                    samples["voicefsm"].append(clock() - start)
                # the Redis-backed manager: RPUSH per message
                for _ in range(BATCH):
                    start = clock()
                    await client.rpush(f"history:{round_index}", payload)
                    samples["redis_rpush"].append(clock() - start)
                # the floor
                table = {
                    ("listening", "u"): "thinking",
                    ("thinking", "s"): "speaking",
                    ("speaking", "f"): "listening",
                }
                fsm, history = {"state": "listening"}, []
                for index in range(BATCH):
                    start = clock()
                    key = (fsm["state"], "usf"[index % 3])
                    fsm["state"] = table[key]
                    history.append(payload)
                    samples["dict_fsm"].append(clock() - start)
                await asyncio.sleep(0)  # let the outbox's writer keep up, as a voice loop would
            await outbox.aclose()
        redis_version = (await client.info("server")).get("redis_version", "unknown")
    finally:
        await client.aclose()
        process.terminate()
        process.wait(timeout=10)
    result = {name: _summary(values) for name, values in samples.items()}
    ours, base = result["voicefsm"], result["redis_rpush"]
    result["ratio_redis_over_voicefsm_median"] = base["median_us"] / ours["median_us"]
    result["ratio_voicefsm_over_dict_median"] = ours["median_us"] / result["dict_fsm"]["median_us"]
    result["redis_version"] = redis_version
    return result
