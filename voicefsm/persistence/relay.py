"""Delivering spooled writes to the backend: batched, retried with backoff, and held back by a
circuit breaker while the backend keeps failing.

Retries are stamina's (capped exponential backoff with jitter); a ``Retry-After`` from the backend
replaces the computed wait. The breaker (purgatory) opens after a run of failures, so a dead
backend is probed once per breaker period instead of hammered. When a batch is refused (400,
413, 422: a refusal of the request itself), it is split to find the row at fault; only that row
is dead-lettered. Any other failure, a wrong URL (404, 405) or a refused token (401) included,
leaves the rows pending, and the operator is told its real cause once, when it changes. Nothing
is ever dropped: rows stay spooled until delivered or refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import stamina
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from voicefsm.backend.client import BackendClient
from voicefsm.errors import (
    BackendMisdirected,
    BackendRejected,
    BackendUnavailable,
    OutboxError,
)
from voicefsm.persistence import causes
from voicefsm.persistence import writer as spool_writer
from voicefsm.persistence.spool import Spool, SpoolRow
from voicefsm.persistence.targets import SpoolTarget, TargetKind

_LOG = logging.getLogger("voicefsm.outbox")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    batch_size: int = 250  # the relay is latency-bound: one batch in flight at a time
    lease_s: float = 120.0
    retry_attempts: int = 4
    retry_timeout_s: float = 20.0
    wait_initial_s: float = 0.1
    wait_max_s: float = 2.0
    wait_jitter_s: float = 0.2
    breaker_threshold: int = 5
    breaker_ttl_s: float = 2.0
    pause_after_failure_s: float = 0.5
    idle_poll_s: float = 1.0
    #: A relay with its own targets (a session's) takes other rows only once they are this old:
    #: their own relay delivers them within milliseconds; what is left is a crashed process's,
    #: or a backlog. Without it, every relay in a process raced for every commit.
    stray_after_s: float = 5.0


#: The session relays running on each event loop, per spool file, in the order they started.
#: The first also sweeps for strays every idle poll; the others sleep until their own commits
#: wake them, so a hundred idle sessions cost one poll a second, not a hundred.
_PEERS: dict[tuple[Path, asyncio.AbstractEventLoop], list[Relay]] = {}


class Relay:
    """Runs in the event loop; its spool calls run on the process's spool thread."""

    def __init__(
        self,
        spool_path: Path,
        client: BackendClient,
        policy: RelayPolicy | None = None,
        *,
        own_targets: Callable[[], Collection[str]] | None = None,
        on_removed: Callable[[int], None] | None = None,
        own_pending: Callable[[], bool] | None = None,
    ) -> None:
        """``own_targets``: the (encoded) targets this relay delivers first, a session's
        conversation and summary; ``None`` delivers everything alike (``voicefsm outbox
        drain``). ``on_removed`` is told how many rows left the spool (delivered or refused).
        ``own_pending`` says whether writes of its own are committed and not yet delivered
        (told by its outbox): the relay then polls for them (a retry comes due) instead of
        sleeping until a commit wakes it."""
        self._path = spool_path
        self._client = client
        self._policy = policy or RelayPolicy()
        # Spool calls run on the process's spool thread (one connection per process), under
        # this relay's own lease token.
        self._thread: spool_writer.SpoolWriter | None = None
        self._token = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=self._policy.breaker_threshold,
            default_ttl=self._policy.breaker_ttl_s,
            exclude=[BackendRejected],
        )
        self.delivered = 0
        self.dead = 0
        self.failed_attempts = 0
        #: What is failing deliveries now (kind, status), once reported; None while they work.
        self._failing: tuple[str, int | None] | None = None
        self._cause = ""
        self._spool_told = causes.Told(_LOG)
        self._own_targets = own_targets
        self._on_removed = on_removed
        self._own_pending = own_pending
        self.own_removed = 0  # rows of its own targets delivered or dead-lettered
        self._failed = False  # the last round failed: try again after a pause
        self._peers: list[Relay] | None = None

    async def _db(self, call: Callable[[Spool], T]) -> T:
        if self._thread is None:
            thread = spool_writer.acquire(self._path)
            if not thread.ready.is_set():
                await asyncio.to_thread(thread.ready.wait)
            if thread.failure is not None:
                if spool_writer.release(thread):
                    await asyncio.to_thread(thread.join)
                raise thread.failure
            self._thread = thread
        return await asyncio.wrap_future(self._thread.call(call))

    def wake(self) -> None:
        self._wake.set()

    def _join_peers(self) -> None:
        if self._own_targets is not None:
            key = (self._path.resolve(), asyncio.get_running_loop())
            self._peers = _PEERS.setdefault(key, [])
            self._peers.append(self)

    def _leave_peers(self) -> None:
        peers, self._peers = self._peers, None
        if peers is None:
            return
        was_sweeper = peers[0] is self
        peers.remove(self)
        if not peers:
            _PEERS.pop((self._path.resolve(), asyncio.get_running_loop()), None)
        elif was_sweeper:
            peers[0].wake()  # the next one sweeps from now on

    def _sweeps(self) -> bool:
        """Whether this relay looks for strays: a drain, or the first session relay here."""
        return self._peers is None or self._peers[0] is self

    def _idle_wait(self) -> float | None:
        """How long an idle relay sleeps unless woken: a poll after a failure, while writes of
        its own are undelivered, or to sweep for strays; otherwise until a commit wakes it."""
        own_pending = self._own_pending is not None and self._own_pending()
        if self._failed or own_pending or self._sweeps():
            return self._policy.idle_poll_s
        return None

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._join_peers()
        try:
            while True:
                self._wake.clear()
                self._failed = False
                try:
                    delivered = await self.deliver_round()
                except (sqlite3.Error, OSError, OutboxError) as exc:
                    # Nothing was lost (the rows are still there): try again shortly, and tell
                    # the operator the real cause (a full disk is not "busy"), once.
                    self._spool_told.failing(
                        causes.error_name(exc),
                        "outbox delivery waits for the spool: " + causes.meaning(exc),
                        level=logging.WARNING if causes.is_busy(exc) else logging.ERROR,
                        error=causes.describe_failure(exc),
                        spool=str(self._path),
                    )
                    delivered, self._failed = False, True
                else:
                    self._spool_told.recovered("outbox spool usable again", spool=str(self._path))
                if not delivered:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._idle_wait())
        finally:
            self._leave_peers()
            # Cancelled mid-delivery, rows would stay leased to this (living) process until the
            # lease expires; give them back so the next relay, even in this process, takes them.
            try:
                await self._db(partial(Spool.unlease, token=self._token))
            except (sqlite3.Error, OSError) as exc:
                _LOG.warning(
                    "outbox leases left to expire: the spool could not be written",
                    extra={"error": causes.describe_failure(exc)},
                )
            thread, self._thread = self._thread, None
            if thread is not None and spool_writer.release(thread):
                await asyncio.to_thread(thread.join)

    async def deliver_round(self) -> bool:
        """Lease one batch and deliver it; False when there was nothing to do (or no way to)."""
        policy = self._policy
        lease = partial(
            Spool.lease,
            limit=policy.batch_size,
            lease_s=policy.lease_s,
            token=self._token,
            destination=self._client.destination,  # another backend's rows are not ours
        )
        if self._own_targets is None:
            rows = await self._db(lease)
        else:
            rows = await self._db(partial(lease, targets=self._own_targets()))
            if not rows and self._sweeps():
                rows = await self._db(partial(lease, older_than_s=policy.stray_after_s))
        if not rows:
            return False
        groups: dict[str, list[SpoolRow]] = {}
        for row in rows:
            groups.setdefault(row.target, []).append(row)
        pending = list(groups.values())
        while pending:
            group = pending.pop(0)
            try:
                await self._deliver(group)
            except (BackendUnavailable, OpenedState) as exc:
                # Still failing after retries: give every leased row back, pause, try later.
                left = [row.seq for rows_ in (group, *pending) for row in rows_]
                retry_in = (
                    policy.breaker_ttl_s
                    if isinstance(exc, OpenedState)
                    else policy.pause_after_failure_s
                )
                error = self._report(exc, len(left))
                await self._db(partial(Spool.release, seqs=left, error=error, retry_in_s=retry_in))
                self._failed = True
                return False
        if self._failing is not None:
            self._failing = None
            _LOG.info("outbox delivery resumed")
        return True

    def _report(self, exc: BackendUnavailable | OpenedState, rows: int) -> str:
        """The real cause of a failed delivery (stored with the rows); logged once when it
        changes, not per attempt: a wrong URL would otherwise log every half second."""
        if isinstance(exc, OpenedState):  # the breaker holds back because of an earlier cause
            return self._cause or "backend failing (circuit breaker open)"
        self._cause = str(exc)
        failing = (type(exc).__name__, exc.status)
        if failing == self._failing:
            return self._cause
        self._failing = failing
        extra = {"rows": rows, "status": exc.status, "url": exc.url, "cause": self._cause}
        if isinstance(exc, BackendMisdirected):
            _LOG.error(
                "outbox delivery held: the backend URL answers as a wrong endpoint would; "
                "writes stay pending until VOICEFSM_BACKEND_URL is fixed",
                extra=extra,
            )
        elif exc.status in (401, 403):
            _LOG.error(
                "outbox delivery held: the backend refused the token; writes stay pending "
                "until VOICEFSM_BACKEND_TOKEN is fixed",
                extra=extra,
            )
        else:
            _LOG.warning("outbox delivery postponed: backend unavailable", extra=extra)
        return self._cause

    async def _deliver(self, rows: Sequence[SpoolRow]) -> None:
        try:
            await self._with_retries(lambda: self._send(rows))
        except BackendRejected as exc:
            if len(rows) > 1:  # find the row at fault; deliver the others
                for row in rows:
                    await self._deliver([row])
                return
            await self._db(partial(Spool.bury, seqs=[rows[0].seq], error=f"{exc.status}"))
            self.dead += 1
            self._removed(rows)
            _LOG.error(
                "outbox write refused by the backend (kept as dead; see voicefsm outbox requeue)",
                extra={"idempotency_key": rows[0].key, "status": exc.status, "url": exc.url},
            )
            return
        await self._db(partial(Spool.delete, seqs=[row.seq for row in rows]))
        self.delivered += len(rows)
        self._removed(rows)

    def _removed(self, rows: Sequence[SpoolRow]) -> None:
        own = self._own_targets() if self._own_targets is not None else ()
        self.own_removed += sum(1 for row in rows if row.target in own)
        if self._on_removed is not None:
            self._on_removed(len(rows))

    async def _send(self, rows: Sequence[SpoolRow]) -> None:
        await send(self._client, rows[0].target, [row.body for row in rows])

    async def _with_retries(self, call: Callable[[], Awaitable[None]]) -> None:
        policy = self._policy
        async for attempt in stamina.retry_context(
            on=self._backoff,
            attempts=policy.retry_attempts,
            timeout=policy.retry_timeout_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                breaker = await self._breakers.get_breaker("backend")
                async with breaker:
                    await call()

    def _backoff(self, exc: BaseException) -> bool | float:
        """stamina's hook: retry unavailability (after Retry-After when given), nothing else."""
        if isinstance(exc, OpenedState):
            self.failed_attempts += 1
            return self._policy.breaker_ttl_s
        if isinstance(exc, BackendUnavailable):
            self.failed_attempts += 1
            return exc.retry_after if exc.retry_after is not None else True
        return False


async def send(client: BackendClient, spooled_target: str, bodies: Sequence[str]) -> None:
    """Deliver serialised writes of one spool target (as a spool row names it): one event
    batch, or session summaries. A target this version cannot read is a refusal."""
    try:
        target = SpoolTarget.parse(spooled_target)
    except ValueError as exc:
        raise BackendRejected(str(exc)) from None
    if target.kind is TargetKind.EVENTS:
        await client.post_event_batch(target.ident, bodies)
    else:
        for body in bodies:
            await client.put_session_json(target.ident, body)
