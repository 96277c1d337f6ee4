"""Writes reach the spool thread a loop pass at a time: one wake-up and one commit for what a
pass wrote, never a write left behind by something queued after it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from trials.support import event
from voicefsm.ids import ConversationId
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.handover import LoopHandover
from voicefsm.persistence.outbox import Outbox


async def test_a_loop_pass_hands_its_items_over_together_at_its_end() -> None:
    put: list[list[int]] = []
    handover: LoopHandover[int] = LoopHandover(put.append)
    for item in range(3):
        handover.add(item)
    assert put == []  # nothing woke the thread during the pass
    await asyncio.sleep(0)
    handover.add(3)
    await asyncio.sleep(0)
    assert put == [[0, 1, 2], [3]]


async def test_hand_over_now_puts_the_pass_so_far_and_nothing_twice() -> None:
    put: list[list[str]] = []
    handover: LoopHandover[str] = LoopHandover(put.append)
    handover.add("a")
    handover.hand_over_now()
    assert put == [["a"]]
    handover.add("b")
    await asyncio.sleep(0)
    assert put == [["a"], ["b"]]


def test_items_from_outside_a_loop_are_put_at_once() -> None:
    put: list[list[str]] = []
    handover: LoopHandover[str] = LoopHandover(put.append)
    thread = threading.Thread(target=handover.add, args=("x",))
    thread.start()
    thread.join()
    assert put == [["x"]]


async def test_a_pass_of_writes_is_one_commit(spool_path: Path) -> None:
    commits: list[list[str]] = []
    outbox = Outbox(spool_path, None, on_commit=lambda keys: commits.append(list(keys)))
    await outbox.start()
    try:
        for index in range(5):
            outbox.submit_event(ConversationId("c1"), event(index))
            time.sleep(0.005)  # the spool thread gets the GIL: it could commit each alone
        assert await outbox.flush(10) == 5
    finally:
        await outbox.aclose()
    assert commits == [[event(index).idempotency_key for index in range(5)]]


async def test_a_barrier_in_the_pass_that_wrote_follows_its_writes(spool_path: Path) -> None:
    """Waiting for "everything queued so far" covers the writes of the pass still collecting."""
    order: list[str] = []

    def committed(keys: Sequence[str]) -> None:
        order.append(f"committed {len(keys)}")

    writer = spool_writer.acquire(spool_path)
    await asyncio.to_thread(writer.ready.wait)
    try:
        for index in range(3):
            writer.submit(
                spool_writer.Write(
                    f"k{index}",
                    "events:c1",
                    "{}",
                    listener=committed,
                    diverted=print,
                )
            )
        reached = writer.barrier(lambda: order.append("barrier"))
        time.sleep(0.05)  # the pass goes on; the spool thread takes what is queued meanwhile
        assert await asyncio.to_thread(reached.wait, 10)
        assert order == ["committed 3", "barrier"]
    finally:
        if spool_writer.release(writer):
            await asyncio.to_thread(writer.join, 10)
