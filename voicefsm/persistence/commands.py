"""``voicefsm outbox status``, ``drain`` and ``requeue``: look at, empty and retry a spool."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from voicefsm.backend.client import BackendClient, backend_destination, backend_http
from voicefsm.errors import OutboxError
from voicefsm.ids import ConversationId, SessionId
from voicefsm.persistence.causes import describe_failure
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.spool import Spool, SpoolStatus, read_status

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


def inspect(spool_path: Path) -> SpoolStatus:
    """The spool's figures, read-only; :class:`OutboxError` when it is not a usable spool."""
    return _spool_call(spool_path, lambda: read_status(spool_path))


def format_status(spool_path: Path, status: SpoolStatus, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "spool": str(spool_path),
                "pending": status.pending,
                "dead": status.dead,
                "oldest_age_s": None
                if status.oldest_age_s is None
                else round(status.oldest_age_s, 3),
            }
        )
    oldest = "" if status.oldest_age_s is None else f" (oldest {status.oldest_age_s:.1f} s)"
    return f"{spool_path}: {status.pending} pending{oldest}, {status.dead} dead"


async def drain(
    spool_path: Path,
    backend_url: str,
    token: SecretStr | None,
    timeout_s: float,
    rebind_from: str | None = None,
) -> tuple[int, int, int]:
    """Deliver what the spool holds for this backend (and, with ``rebind_from``, what it holds
    for that other one, bound for this one first); returns (delivered, pending, dead)."""
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
    return stats.delivered, status.pending, status.dead


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
) -> tuple[int, int, int]:
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
