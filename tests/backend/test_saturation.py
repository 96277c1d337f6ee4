"""Under more concurrent requests than it has database connections, the backend says "not now"
(503 with ``Retry-After``), never 500, and still answers ``/healthz``; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from voicefsm.backend.models import MAX_BATCH
from voicefsm.backend.server.limits import ServerLimits
from voicefsm.backend.server.runner import running_backend

MESSAGES = 4_000  # enough that each context search takes a while
REQUESTS = 300


def limits(*, pool_size: int, max_requests: int) -> ServerLimits:
    return ServerLimits(
        pool_size=pool_size,
        max_requests=max_requests,
        queue_wait_s=0.05,
        header_timeout_s=10.0,
        body_timeout_s=10.0,
        max_connections=1000,
    )


def seed(url: str) -> None:
    events = [
        {
            "idempotency_key": f"s1:{index}",
            "session_id": "s1",
            "at": "2026-01-01T00:00:00Z",
            "kind": "message",
            "role": "user",
            "text": f"message number {index} about the weather and other things",
            "turn": index,
        }
        for index in range(MESSAGES)
    ]
    with httpx.Client(base_url=url, timeout=60) as http:
        for start in range(0, MESSAGES, MAX_BATCH):
            batch = {"events": events[start : start + MAX_BATCH]}
            assert http.post("/api/v1/conversations/c1/events", json=batch).status_code == 200


async def storm(url: str) -> tuple[list[httpx.Response], httpx.Response]:
    """REQUESTS concurrent context searches, and a health check in the middle of them."""
    pool = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=pool) as http:
        searches = [
            asyncio.create_task(
                http.post("/api/v1/conversations/c1/context", json={"text": "zebra giraffe"})
            )
            for _ in range(REQUESTS)
        ]
        await asyncio.sleep(0.05)
        health = await http.get("/healthz")
        return list(await asyncio.gather(*searches)), health


@pytest.fixture(
    params=[
        # Connections to spare: requests wait for one of the API's turns.
        pytest.param((10, 2, "the backend is busy; retry"), id="turns-bound"),
        # Every request admitted: they wait for one database connection.
        pytest.param((1, REQUESTS, "the backend's database is busy; retry"), id="pool-bound"),
    ]
)
def saturable_backend(
    database_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    """A backend and the refusal its saturation should produce."""
    pool_size, max_requests, refusal = request.param
    bounded = limits(pool_size=pool_size, max_requests=max_requests)
    with running_backend(database_url, limits=bounded) as url:
        seed(url)
        yield url, refusal


@pytest.mark.slow
def test_saturation_is_answered_503_with_retry_after_never_500(
    saturable_backend: tuple[str, str],
) -> None:
    url, refusal = saturable_backend
    responses, health = asyncio.run(storm(url))
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0, statuses
    assert statuses[200] > 0, statuses
    refused = [response for response in responses if response.status_code == 503]
    assert all(response.headers.get("Retry-After") == "1" for response in refused)
    assert {response.json()["detail"] for response in refused} == {refusal}
    assert health.status_code == 200
