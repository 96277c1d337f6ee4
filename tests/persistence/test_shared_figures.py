"""Outboxes closing together share one reading of the spool's figures, and only one that holds
their own writes: taken after their last commit, with no delivery since."""

from __future__ import annotations

import asyncio
from pathlib import Path

from trials.support import event
from voicefsm.ids import ConversationId
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget

C1 = ConversationId("c1")


def spool_behind_their_back(spool_path: Path, key: str) -> None:
    """A row the outboxes' spool thread never committed: only a fresh reading counts it."""
    spool = Spool(spool_path)
    try:
        spool.insert([(key, SpoolTarget.events(C1).encode(), "{}")])
    finally:
        spool.close()


async def test_a_reading_after_an_outboxs_last_commit_is_shared_one_before_it_is_not(
    spool_path: Path,
) -> None:
    first, second = Outbox(spool_path, None), Outbox(spool_path, None)
    await first.start()
    await second.start()
    try:
        second.submit_event(C1, event(0, session="b"))
        assert await second.flush(10) == 1
        first.submit_event(C1, event(0, session="a"))
        assert await first.flush(10) == 2
        assert (await first.stats()).pending == 2  # read now, after both commits
        spool_behind_their_back(spool_path, "outside-1")
        # Both outboxes' writes were in that reading: it serves them both.
        assert (await first.stats()).pending == 2
        assert (await second.stats()).pending == 2
        second.submit_event(C1, event(1, session="b"))
        assert await second.flush(10) == 4  # its new write came after: read afresh
        assert (await second.stats()).pending == 4
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_relay_call_since_a_reading_makes_it_stale(spool_path: Path) -> None:
    outbox = Outbox(spool_path, None)
    await outbox.start()
    thread = spool_writer.acquire(spool_path)
    try:
        outbox.submit_event(C1, event(0))
        assert await outbox.flush(10) == 1
        assert (await outbox.stats()).pending == 1
        spool_behind_their_back(spool_path, "outside-1")
        assert (await outbox.stats()).pending == 1  # shared: nothing changed here since
        await asyncio.wrap_future(thread.call(lambda _spool: None))  # e.g. a delivery
        assert (await outbox.stats()).pending == 2
    finally:
        await outbox.aclose()
        if spool_writer.release(thread):
            await asyncio.to_thread(thread.join, 10)
