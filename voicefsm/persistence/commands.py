"""``voicefsm outbox status``, ``drain`` and ``requeue``: look at, empty and retry a spool."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

from pydantic import SecretStr

from voicefsm.backend.client import BackendClient, backend_destination, backend_http
from voicefsm.errors import OutboxError
from voicefsm.ids import ConversationId, SessionId
from voicefsm.persistence.causes import describe_failure
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.spool import Spool, SpoolStatus, read_once

T = TypeVar("T")


def _spool_call(spool_path: Path, call: Callable[[], T]) -> T:
    """``call``, with any failure of the spool file as one :class:`OutboxError` line."""
    try:
        return call()
    except OutboxError:
        raise
    except (sqlite3.Error, OSError) as exc:
        msg = f"cannot use the spool at {spool_path}: {describe_failure(exc)}"
        raise OutboxError(msg) from exc


class Inspected(NamedTuple):
    """A spool's figures: over every row, and per backend its rows are bound for (``None``:
    the unbound rows, which any backend's drain delivers)."""

    status: SpoolStatus
    destinations: dict[str | None, SpoolStatus]


class Drained(NamedTuple):
    """What a drain left: ``pending`` and ``dead`` count the rows it delivers (its backend's
    and unbound ones); ``elsewhere``, the pending rows bound for other backends."""

    delivered: int
    pending: int
    dead: int
    elsewhere: int


def inspect(spool_path: Path) -> Inspected:
    """The spool's figures, read-only; :class:`OutboxError` when it is not a usable spool."""

    def read(spool: Spool) -> Inspected:
        return Inspected(spool.status(), spool.status_by_destination())

    return _spool_call(spool_path, lambda: read_once(spool_path, read))


def _figures(status: SpoolStatus) -> dict[str, object]:
    age = status.oldest_age_s
    return {
        "pending": status.pending,
        "dead": status.dead,
        "oldest_age_s": None if age is None else round(age, 3),
    }


def _line(status: SpoolStatus) -> str:
    oldest = "" if status.oldest_age_s is None else f" (oldest {status.oldest_age_s:.1f} s)"
    return f"{status.pending} pending{oldest}, {status.dead} dead"


def format_status(spool_path: Path, inspected: Inspected, *, as_json: bool) -> str:
    """The whole spool's figures, then each backend's (the rows bound for it) apart."""
    status, destinations = inspected
    if as_json:
        per_backend = [
            {"destination": destination, **_figures(figures)}
            for destination, figures in destinations.items()
        ]
        whole = {"spool": str(spool_path), **_figures(status), "destinations": per_backend}
        return json.dumps(whole)
    lines = [f"{spool_path}: {_line(status)}"]
    for destination, figures in destinations.items():
        lines.append(f"  {destination or 'unbound (any backend)'}: {_line(figures)}")
    return "\n".join(lines)


async def drain(
    spool_path: Path,
    backend_url: str,
    token: SecretStr | None,
    timeout_s: float,
    rebind_from: str | None = None,
) -> Drained:
    """Deliver what the spool holds for this backend (and, with ``rebind_from``, what it holds
    for that other one, bound for this one first). Rows bound for other backends are neither
    delivered nor waited for: they are only counted (``elsewhere``)."""
    async with backend_http(backend_url) as http:
        client = BackendClient(http, token=token)
        if rebind_from is not None:
            source = backend_destination(rebind_from)
            await asyncio.to_thread(_rebind, spool_path, source, client.destination)
        outbox = Outbox(spool_path, client, drain_all=True)
        await outbox.start()
        try:
            await outbox.flush(timeout_s)
            stats = await outbox.stats()
            status = await outbox.status()
        finally:
            await outbox.aclose()
    whole = await asyncio.to_thread(read_once, spool_path, Spool.pending)
    elsewhere = max(0, whole - status.pending)  # a delivery in between is not a negative
    return Drained(stats.delivered, status.pending, status.dead, elsewhere)


def _rebind(spool_path: Path, source: str, destination: str) -> None:
    spool = Spool(spool_path)
    try:
        spool.rebind(source, destination)
    finally:
        spool.close()


def run_drain(
    spool_path: Path,
    backend_url: str,
    token: SecretStr | None,
    timeout_s: float,
    rebind_from: str | None = None,
) -> Drained:
    return _spool_call(
        spool_path,
        lambda: asyncio.run(drain(spool_path, backend_url, token, timeout_s, rebind_from)),
    )


def requeue(
    spool_path: Path,
    *,
    status: int | None,
    conversation_id: ConversationId | None,
    session_id: SessionId | None,
) -> tuple[int, SpoolStatus]:
    """Make the matching dead rows pending again; returns how many, and the spool's figures."""

    def call() -> tuple[int, SpoolStatus]:
        spool = Spool(spool_path)
        try:
            count = spool.requeue(
                status=status, conversation_id=conversation_id, session_id=session_id
            )
            return count, spool.status()
        finally:
            spool.close()

    return _spool_call(spool_path, call)


def format_requeue(spool_path: Path, count: int, status: SpoolStatus, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "spool": str(spool_path),
                "requeued": count,
                "pending": status.pending,
                "dead": status.dead,
            }
        )
    return f"{spool_path}: requeued {count}; {status.pending} pending, {status.dead} dead"
