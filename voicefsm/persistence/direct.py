"""Writes the spool could not take (a disk full or failing, a spool that cannot be opened),
delivered straight from memory so that the conversation still reaches a healthy backend.

In submission order, under the same idempotency keys as through the spool, retried while the
backend is unavailable. They were never acknowledged: a process that dies, or an outbox closed
before they are delivered, loses them, and they are counted (``OutboxStats.unspooled``) and
logged, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence

from voicefsm.backend.client import BackendClient
from voicefsm.errors import BackendRejected, BackendUnavailable
from voicefsm.persistence.causes import Told
from voicefsm.persistence.relay import RelayPolicy, send
from voicefsm.persistence.writer import LazyBody, Write

_LOG = logging.getLogger("voicefsm.outbox")


def serialise(body: LazyBody) -> str:
    built = body() if callable(body) else body
    return built if isinstance(built, str) else built.model_dump_json(by_alias=True)


class DirectDelivery:
    """Runs in the event loop; :meth:`add` only from it."""

    def __init__(
        self,
        client: BackendClient | None,
        policy: RelayPolicy | None = None,
        *,
        on_removed: Callable[[int], None],
    ) -> None:
        """``on_removed`` is told how many writes left the queue (delivered, refused, lost)."""
        self._client = client
        self._policy = policy or RelayPolicy()
        self._queue: deque[Write] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._told = Told(_LOG)
        self.taken = 0
        self.delivered = 0
        self.dead = 0
        self.lost = 0
        self._on_removed = on_removed
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add(self, writes: Sequence[Write]) -> None:
        self.taken += len(writes)
        if self._client is None or self._closed:  # nowhere to send them: lost, and said so
            self._lose(len(writes))
            return
        self._queue.extend(writes)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voicefsm-direct-delivery")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._deliver_next()

    async def _deliver_next(self) -> None:
        first = self._queue[0]
        count = 1  # consecutive writes of one target go in one request, order kept
        while (
            count < min(len(self._queue), self._policy.batch_size)
            and self._queue[count].target == first.target
        ):
            count += 1
        if count == 1:
            await self._deliver_single(first)
            return
        batch = [self._queue[i] for i in range(count)]
        try:
            await self._send_until_answered(batch)
        except BackendRejected:
            for write in batch:  # find the write at fault; each is the queue's head in turn
                await self._deliver_single(write)
            return
        for _ in range(count):
            self._queue.popleft()
        self.delivered += count
        self._on_removed(count)

    async def _deliver_single(self, write: Write) -> None:
        try:
            await self._send_until_answered([write])
        except BackendRejected as exc:
            self.dead += 1
            _LOG.error(
                "unspooled write refused by the backend; it is lost",
                extra={"idempotency_key": write.key, "status": exc.status},
            )
        else:
            self.delivered += 1
        self._queue.popleft()
        self._on_removed(1)

    async def _send_until_answered(self, batch: Sequence[Write]) -> None:
        """Send until delivered or refused: an unavailable backend is waited for (backoff,
        ``Retry-After``), with its cause told once."""
        assert self._client is not None  # noqa: S101 (add() keeps writes only with a client)
        bodies = [serialise(write.body) for write in batch]
        wait = self._policy.wait_initial_s
        while True:
            try:
                await send(self._client, batch[0].target, bodies)
            except BackendUnavailable as exc:
                self._told.failing(
                    f"{type(exc).__name__}:{exc.status}",
                    "unspooled writes wait for the backend",
                    level=logging.WARNING,
                    cause=str(exc),
                    status=exc.status,
                    url=exc.url,
                )
                pause = exc.retry_after if exc.retry_after is not None else wait
                await asyncio.sleep(pause + random.uniform(0, self._policy.wait_jitter_s))  # noqa: S311
                wait = min(wait * 2, self._policy.wait_max_s)
                continue
            self._told.recovered("unspooled writes delivered again")
            return

    def _lose(self, count: int) -> None:
        first = self.lost == 0
        self.lost += count
        self._on_removed(count)
        if first:  # once; the total is told at close (a write per turn must not log per turn)
            _LOG.error("outbox writes lost: neither spooled nor delivered", extra={"writes": count})

    async def aclose(self) -> None:
        """Stop; what is still queued is lost (it was never acknowledged), and said so."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue:
            count = len(self._queue)
            self._queue.clear()
            self._lose(count)
        if self.lost:
            _LOG.error(
                "outbox closed: writes lost, neither spooled nor delivered",
                extra={"writes": self.lost},
            )
