"""The outbox against the real reference backend, healthy and under injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina.instrumentation
from pydantic import SecretStr

from trials.stubs.fault_proxy import Fault, fault_proxy
from trials.support import Backend, event, free_port
from voicefsm.backend.client import BackendClient
from voicefsm.engine.session_record import SessionRecord
from voicefsm.errors import SpoolFullError
from voicefsm.ids import ConversationId
from voicefsm.lifecycle import EndReason
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.relay import RelayPolicy
from voicefsm.persistence.spool import Spool, SpoolRow
from voicefsm.persistence.targets import SpoolTarget

FAST = RelayPolicy(
    wait_initial_s=0.01,
    wait_max_s=0.05,
    wait_jitter_s=0.01,
    breaker_ttl_s=0.2,
    pause_after_failure_s=0.05,
    idle_poll_s=0.1,
)


@asynccontextmanager
async def outbox_to(
    url: str | None,
    spool: Path,
    *,
    policy: RelayPolicy = FAST,
    timeout_s: float = 5.0,
    token: SecretStr | None = None,
    **kwargs: object,
) -> AsyncIterator[Outbox]:
    async with httpx.AsyncClient(base_url=url or "http://127.0.0.1:9") as http:
        client = BackendClient(http, write_timeout_s=timeout_s, token=token) if url else None
        outbox = Outbox(spool, client, policy=policy, **kwargs)  # type: ignore[arg-type]
        await outbox.start()
        try:
            yield outbox
        finally:
            await outbox.aclose()


async def test_every_write_is_delivered_once(backend: Backend, spool_path: Path) -> None:
    async with outbox_to(backend.url, spool_path) as outbox:
        for i in range(300):
            outbox.submit_event("c1", event(i))
        assert await outbox.flush(20) == 0
        stats = await outbox.stats()
    assert (stats.submitted, stats.spooled, stats.delivered, stats.pending) == (300, 300, 300, 0)
    assert sorted(backend.stored_keys()) == [event(i).idempotency_key for i in range(300)]


async def test_a_backend_that_is_down_loses_nothing_and_gets_everything_once_up(
    backend: Backend, spool_path: Path
) -> None:
    port = free_port()
    async with outbox_to(f"http://127.0.0.1:{port}", spool_path) as outbox:
        for i in range(50):
            outbox.submit_event("c1", event(i))
        assert await outbox.flush(0.5) == 50  # nothing listens: all still spooled
        with fault_proxy(backend.url, port=port):
            assert await outbox.flush(20) == 0
    assert sorted(backend.stored_keys()) == [event(i).idempotency_key for i in range(50)]


@pytest.mark.slow
async def test_a_relay_stopped_mid_delivery_gives_its_rows_back(
    backend: Backend, spool_path: Path
) -> None:
    """Stopping during retries must not leave rows leased to this still-living process."""
    slow = RelayPolicy(wait_initial_s=0.2, wait_max_s=0.2, retry_attempts=50, retry_timeout_s=60)
    port = free_port()
    async with outbox_to(f"http://127.0.0.1:{port}", spool_path, policy=slow) as first:
        for i in range(5):
            first.submit_event("c1", event(i))
        assert await first.flush(0.5) == 5  # still retrying when we stop it
    # The next outbox of this process, for the same backend (up now), takes them: not its own
    # writes, so once they are strays (older than stray_after_s, 5 s), not before.
    with fault_proxy(backend.url, port=port):
        async with outbox_to(f"http://127.0.0.1:{port}", spool_path) as second:
            assert await second.flush(30) == 0
    assert len(backend.stored_keys()) == 5


async def test_retry_after_replaces_the_computed_backoff(
    backend: Backend, spool_path: Path
) -> None:
    waits: list[float] = []
    stamina.instrumentation.set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
    try:
        with fault_proxy(backend.url) as proxy:
            proxy.script.extend([Fault("status", 503, retry_after="0.3"), Fault("status", 500)])
            async with outbox_to(proxy.url, spool_path) as outbox:
                outbox.submit_event("c1", event(1))
                assert await outbox.flush(20) == 0
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)
    assert waits[0] == 0.3  # the server's Retry-After, not the policy's 0.01 s start
    assert waits[1] < 0.3
    assert backend.stored_keys() == [event(1).idempotency_key]


async def test_errors_resets_and_slow_answers_still_apply_each_write_once(
    backend: Backend, spool_path: Path
) -> None:
    faults = [
        Fault("status", 500),
        Fault("status", 503, retry_after="0"),
        Fault("reset_before"),
        Fault("reset_after"),  # applied, but the client never hears so
        Fault("slow_after", delay_s=1.5),  # applied, answered after the client gave up
    ]
    with fault_proxy(backend.url) as proxy:
        proxy.script.extend(faults)  # each kind at least once, then a reproducible mix
        proxy.random_faults = faults
        policy = RelayPolicy(
            batch_size=7,
            wait_initial_s=0.01,
            wait_max_s=0.05,
            wait_jitter_s=0.01,
            retry_attempts=8,
            breaker_threshold=50,
            pause_after_failure_s=0.01,
        )
        # The client's timeout is well above a healthy answer on a loaded machine (0.25 s timed
        # every request out under 8 test workers on 2 cores) and below the slow fault's delay.
        async with outbox_to(proxy.url, spool_path, policy=policy, timeout_s=1.0) as outbox:
            for i in range(120):
                outbox.submit_event("c1", event(i))
            assert await outbox.flush(60) == 0

    injected = {kind: count for kind, count in proxy.seen.items() if kind != "pass"}
    assert set(injected) >= {"status", "reset_before", "reset_after", "slow_after"}
    keys = backend.stored_keys()
    assert len(keys) == len(set(keys)) == 120  # none lost, none applied twice
    assert proxy.forwarded > 120 / 7  # replays of applied batches reached the backend


async def test_a_refused_write_is_dead_lettered_and_the_rest_delivered(
    backend: Backend, spool_path: Path
) -> None:
    # The backend already holds key 3 with other content: sending ours is a 422 for that row.
    async with httpx.AsyncClient(base_url=backend.url) as http:
        await BackendClient(http).post_event_batch(
            "c1", [event(3, text="original").model_dump_json()]
        )
    async with outbox_to(backend.url, spool_path) as outbox:
        for i in range(6):
            outbox.submit_event("c1", event(i))
        assert await outbox.flush(20) == 0
        stats = await outbox.stats()
        status = await outbox.status()
    assert (stats.delivered, stats.dead, status.dead) == (5, 1, 1)
    assert backend.stored_text(event(3).idempotency_key) == "original"
    assert sorted(backend.stored_keys()) == sorted(event(i).idempotency_key for i in range(6))


async def test_submit_does_no_disk_io(spool_path: Path) -> None:
    """While another connection holds the spool's write lock, submit still returns at once."""
    async with outbox_to(None, spool_path) as outbox:
        blocker = sqlite3.connect(spool_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(100):
            outbox.submit_event("c1", event(i))  # would raise or hang if it touched the file
        assert (await outbox.stats()).submitted == 100
        blocker.execute("COMMIT")
        blocker.close()
        assert await outbox.flush(10) == 100  # all committed once the lock was released
        assert (await outbox.stats()).spooled == 100


async def test_a_full_spool_refuses_with_a_clear_error_and_keeps_what_it_has(
    spool_path: Path,
) -> None:
    async with outbox_to(None, spool_path, max_pending=10) as outbox:
        for i in range(10):
            outbox.submit_event("c1", event(i))
        with pytest.raises(SpoolFullError, match="maximum of 10 undelivered writes"):
            outbox.submit_event("c1", event(10))
        await outbox.flush(5)
        stats = await outbox.stats()
    assert (stats.spooled, stats.refused, stats.pending) == (10, 1, 10)


@pytest.mark.slow
async def test_opening_a_spool_with_pending_rows_resumes_delivery(
    backend: Backend, spool_path: Path
) -> None:
    async with outbox_to(None, spool_path) as first:
        for i in range(30):
            first.submit_event("c1", event(i))
    async with outbox_to(backend.url, spool_path) as second:
        assert await second.flush(20) == 0
    assert len(backend.stored_keys()) == 30


async def test_a_session_summary_is_delivered(backend: Backend, spool_path: Path) -> None:
    state = SessionRecord("s9", "c9")
    async with outbox_to(backend.url, spool_path) as outbox:
        outbox.submit_session(state.summary(EndReason.HANG_UP))
        assert await outbox.flush(10) == 0
    with sqlite3.connect(backend.database) as db:
        (stored,) = db.execute("SELECT summary FROM sessions WHERE session_id = 's9'").fetchone()
    assert json.loads(stored)["end_reason"] == "hang_up"


def test_the_spool_and_its_journal_are_private(spool_path: Path) -> None:
    spool = Spool(spool_path)
    spool.insert([("k", SpoolTarget.events(ConversationId("c1")).encode(), "{}")])
    modes = {path.name: path.stat().st_mode & 0o777 for path in spool_path.parent.iterdir()}
    spool.close()
    assert modes == {
        "outbox.sqlite3": 0o600,
        "outbox.sqlite3-wal": 0o600,
        "outbox.sqlite3-shm": 0o600,
    }
    assert spool_path.parent.stat().st_mode & 0o777 == 0o700


def test_a_full_disk_is_reported_as_itself_and_the_spool_recovers(spool_path: Path) -> None:
    """SQLite ends a transaction itself when the disk fills; the error that reaches the log must
    be "disk is full", not the "cannot rollback" of a second, pointless ROLLBACK."""
    spool = Spool(spool_path)
    spool.insert([("k0", SpoolTarget.events(ConversationId("c1")).encode(), "{}")])
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        spool.insert([("k1", SpoolTarget.events(ConversationId("c1")).encode(), "x" * 200_000)])
    spool._db.execute("PRAGMA max_page_count = 1073741823")  # space again
    assert spool.insert([("k1", SpoolTarget.events(ConversationId("c1")).encode(), "{}")]) == 1
    spool.close()


async def test_idle_session_relays_sleep_until_their_own_writes_wake_them(
    backend: Backend, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three sessions' outboxes on one loop, everything delivered: while they idle, one relay
    sweeps the spool for strays; the others read nothing until a write of their own comes."""
    leases: Counter[str] = Counter()
    lease = Spool.lease

    def counted(spool: Spool, *args: Any, token: str, **kwargs: Any) -> list[SpoolRow]:
        leases[token] += 1
        return lease(spool, *args, token=token, **kwargs)

    monkeypatch.setattr(Spool, "lease", counted)
    async with contextlib.AsyncExitStack() as stack:
        outboxes = [
            await stack.enter_async_context(outbox_to(backend.url, spool_path)) for _ in range(3)
        ]
        for i, outbox in enumerate(outboxes):
            outbox.submit_event(f"c{i}", event(i, session=f"s{i}"))
            assert await outbox.flush(10) == 0
        before = Counter(leases)
        await asyncio.sleep(20 * FAST.idle_poll_s)
        idle = leases - before
        # The sweeper polls all along; the others lease at most once more (the round that finds
        # the spool empty after their delivery may come after the flush returned), then sleep.
        [sweeper] = [token for token, n in idle.items() if n > 1]
        assert sum(n for token, n in idle.items() if token != sweeper) <= 2
        outboxes[2].submit_event("c2", event(7, session="s2"))
        assert await outboxes[2].flush(10) == 0
    assert len(backend.stored_keys()) == 4
