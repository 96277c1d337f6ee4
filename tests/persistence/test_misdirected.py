"""A backend URL that is wrong (a path too many, a proxy answering 404 or 405 during a deploy) is
a configuration fault: rows stay pending and the operator is told once; only a refusal naming the
event itself dead-letters it, and ``voicefsm outbox requeue`` sends dead rows again."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.persistence.test_outbox import outbox_to
from trials.support import Backend, event
from voicefsm.backend.client import BackendClient
from voicefsm.cli import main
from voicefsm.errors import BackendRejected, BackendUnavailable
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool, read_status
from voicefsm.persistence.targets import SpoolTarget


async def test_a_url_with_a_path_too_many_keeps_every_write_and_says_so_once(
    backend: Backend, spool_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = backend.url + "/api/v1"  # every write is answered 404
    with caplog.at_level(logging.INFO, logger="voicefsm.outbox"):
        async with outbox_to(wrong, spool_path) as outbox:
            for i in range(21):
                outbox.submit_event("c1", event(i))
            assert await outbox.flush(1.5) == 21
            status = await outbox.status()
    assert (status.pending, status.dead) == (21, 0)
    told = [r for r in caplog.records if getattr(r, "status", None) == 404]
    assert len(told) == 1  # on change, not per attempt
    assert "VOICEFSM_BACKEND_URL" in told[0].getMessage()
    assert told[0].url.startswith(wrong)  # type: ignore[attr-defined]
    # The rows are bound for the wrong URL: a relay to the right one leaves them alone (nor
    # counts them as its own to deliver)...
    async with outbox_to(backend.url, spool_path) as fixed:
        assert await fixed.flush(0.5) == 0
    assert backend.stored_keys() == []
    assert read_status(spool_path).pending == 21
    # ...until the operator moves them.
    drained = await asyncio.to_thread(
        main,
        ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url,
         "--rebind-from", wrong],
    )  # fmt: skip
    assert drained == 0
    assert sorted(backend.stored_keys()) == [event(i).idempotency_key for i in range(21)]


@pytest.mark.parametrize("status", [301, 404, 405, 410, 501])
async def test_an_answer_about_the_endpoint_is_not_a_refusal_of_the_event(status: int) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as http:
        with pytest.raises(BackendUnavailable) as raised:
            await BackendClient(http).post_event_batch("c1", ["{}"])
    assert raised.value.status == status


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_a_refusal_of_the_event_itself_is_final(status: int) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as http:
        with pytest.raises(BackendRejected):
            await BackendClient(http).post_event_batch("c1", ["{}"])


def _spool_with_dead_rows(spool_path: Path) -> None:
    """Rows an older voicefsm dead-lettered over a wrong URL (404) and one truly refused (422)."""
    spool = Spool(spool_path)
    spool.insert(
        (
            e.idempotency_key,
            SpoolTarget.events(ConversationId(f"c{i % 2}")).encode(),
            e.model_dump_json(),
        )
        for i, e in enumerate(map(event, range(6)))
    )
    spool.bury([1, 2, 3, 4, 5], error="404")
    spool.bury([6], error="422")
    spool.close()


def test_requeue_sends_dead_rows_again_filtered_by_status(
    spool_path: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    _spool_with_dead_rows(spool_path)
    argv = ["outbox", "requeue", "--spool", str(spool_path)]
    assert main([*argv, "--status", "404", "--conversation", "c0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "spool": str(spool_path),
        "requeued": 3,
        "pending": 3,
        "dead": 3,
    }
    assert main([*argv, "--status", "404"]) == 0
    assert "requeued 2; 5 pending, 1 dead" in capsys.readouterr().out
    drain = ["outbox", "drain", "--spool", str(spool_path), "--backend-url", backend.url]
    assert main(drain) == 1  # the 422 row is still dead
    assert "delivered 5; 0 pending, 1 dead" in capsys.readouterr().out


def test_requeue_of_nothing_says_so(spool_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _spool_with_dead_rows(spool_path)
    argv = ["outbox", "requeue", "--spool", str(spool_path), "--status", "500"]
    assert main(argv) == 0
    assert "requeued 0; 0 pending, 6 dead" in capsys.readouterr().out
