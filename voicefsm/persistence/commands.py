"""``voicefsm outbox status``, ``drain`` and ``requeue``: look at, empty and retry a spool."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import SecretStr

from voicefsm.backend.client import BackendClient, backend_http
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.spool import Spool, SpoolStatus


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
    spool_path: Path, backend_url: str, token: SecretStr | None, timeout_s: float
) -> tuple[int, int, int]:
    """Deliver what the spool holds; returns (delivered, pending, dead)."""
    async with backend_http(backend_url) as http:
        outbox = Outbox(spool_path, BackendClient(http, token=token), drain_all=True)
        await outbox.start()
        try:
            await outbox.flush(timeout_s)
            stats = await outbox.stats()
            status = await outbox.status()
        finally:
            await outbox.aclose()
    return stats.delivered, status.pending, status.dead


def run_drain(
    spool_path: Path, backend_url: str, token: SecretStr | None, timeout_s: float
) -> tuple[int, int, int]:
    return asyncio.run(drain(spool_path, backend_url, token, timeout_s))


def requeue(
    spool_path: Path,
    *,
    status: int | None,
    conversation_id: str | None,
    session_id: str | None,
) -> tuple[int, SpoolStatus]:
    """Make the matching dead rows pending again; returns how many, and the spool's figures."""
    spool = Spool(spool_path)
    try:
        count = spool.requeue(status=status, conversation_id=conversation_id, session_id=session_id)
        return count, spool.status()
    finally:
        spool.close()


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
