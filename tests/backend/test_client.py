"""BackendClient against real servers: reads degrade within their deadline, writes classify."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.backend.conftest import TOKEN
from trials.stubs.threaded import serve_app
from trials.support import event, free_port
from voicefsm.backend.client import BackendClient, retry_after_seconds
from voicefsm.backend.server.runner import running_backend
from voicefsm.errors import BackendRejected, BackendUnavailable


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[str]:
    with running_backend(f"sqlite:///{tmp_path / 'b.db'}", token=SecretStr(TOKEN)) as url:
        yield url


async def test_reads_and_writes_with_the_token(secured: str) -> None:
    async with httpx.AsyncClient(base_url=secured) as http:
        client = BackendClient(http, token=SecretStr(TOKEN), read_deadline_s=5)
        result = await client.post_event_batch(
            "c1", [event(1, text="booking on Friday").model_dump_json()]
        )
        assert (result.accepted, result.duplicates) == (1, 0)
        messages = await client.recent_messages("c1")
        assert messages is not None
        assert [m.text for m in messages] == ["booking on Friday"]
        assert await client.context_for("c1", "my booking?") == ["booking on Friday"]
        room = await client.create_room("room-1", {"language": "en"})
        assert room.created


async def test_reads_degrade_when_the_backend_is_down(caplog: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        client = BackendClient(http, token=SecretStr(TOKEN))
        with caplog.at_level(logging.WARNING, logger="voicefsm.backend.client"):
            assert await client.recent_messages("c1") is None
            assert await client.context_for("c1", "hello") == []
    assert [r.call for r in caplog.records] == ["recent_messages", "context_for"]  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text


async def test_reads_degrade_without_the_token(secured: str) -> None:
    async with httpx.AsyncClient(base_url=secured) as http:
        assert await BackendClient(http).recent_messages("c1") is None


async def test_a_slow_drip_answer_is_cut_by_the_overall_deadline() -> None:
    """Each chunk comes well within httpx's per-read timeout; only a whole-call deadline stops it."""

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        for chunk in ('{"conversation_id": "c1", ', '"messages": ', "[", "]", "}"):
            await asyncio.sleep(0.15)
            await response.write(chunk.encode())
        return response

    app = web.Application()
    app.router.add_get("/api/v1/conversations/c1/messages", drip)
    with serve_app(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            patient = BackendClient(http, read_deadline_s=5)
            assert await patient.recent_messages("c1") == []  # the drip does complete
            hurried = BackendClient(http, read_deadline_s=0.3)
            assert await hurried.recent_messages("c1") is None


async def test_writes_classify_failures() -> None:
    async def answer(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return web.json_response({}, status=status, headers={"Retry-After": "7"})

    app = web.Application()
    app.router.add_post("/api/v1/conversations/{status}/events", answer)
    with serve_app(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            client = BackendClient(http)
            with pytest.raises(BackendUnavailable) as unavailable:
                await client.post_event_batch("503", ["{}"])
            assert (unavailable.value.status, unavailable.value.retry_after) == (503, 7.0)
            with pytest.raises(BackendUnavailable):
                await client.post_event_batch("401", ["{}"])  # a token problem: retry later
            with pytest.raises(BackendRejected) as rejected:
                await client.post_event_batch("422", ["{}"])
            assert rejected.value.status == 422
            with pytest.raises(BackendUnavailable, match="unreadable body"):
                await client.post_event_batch("200", ["{}"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(BackendUnavailable, match="unreachable"):
            await BackendClient(http).post_event_batch("c1", ["{}"])


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("100000", 60.0), ("soon", None), (None, None)],
)
def test_retry_after_values(header: str | None, seconds: float | None) -> None:
    headers = {"retry-after": header} if header is not None else {}
    assert retry_after_seconds(httpx.Response(503, headers=headers)) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds(httpx.Response(503, headers={"retry-after": later}))
    assert seconds is not None
    assert 25 < seconds <= 30


async def test_repr_never_shows_the_token() -> None:
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as http:
        client = BackendClient(http, token=SecretStr(TOKEN))
        assert TOKEN not in repr(client)
        assert TOKEN not in repr(client._auth)
