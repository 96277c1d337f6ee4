"""Hostile request bodies against the reference backend: schemathesis from the committed OpenAPI
document (positive and negative cases for every operation), then raw bodies no schema describes.

The backend runs for real on 127.0.0.1 (SQLite in a temporary directory; PostgreSQL too when
``VOICEFSM_TEST_POSTGRES_URL`` is set and the run is full), with a bearer token that every request
carries. Promises: never a 5xx; every response matches the document; schema-violating input is
refused (4xx); and a refused request writes nothing (the row counts do not move).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import schemathesis
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import make_url

from trials.summary import GroupResult
from trials.support import POSTGRES_URL, postgres_database
from trials.trial import HOSTILE_STRINGS, explore, record
from voicefsm.backend.openapi import COMMITTED
from voicefsm.backend.server.runner import running_backend

TOKEN = "fuzz-token-3d1e"  # a fake secret
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: 422s for valid-looking input that the schema cannot express (a reused idempotency key, a path
#: id that differs from the body's, JSON data over its size or with a NUL no store keeps):
#: refusals by design, counted in the notes.
SEMANTIC_REFUSALS = {"idempotency_key_reused", "mismatch", "too_large", "not_storable"}
TABLES = ("conversations", "events", "sessions")


class RowCounts:
    """Row counts of the backend's tables: a refused request must leave them as they were."""

    def __init__(self, database_url: str) -> None:
        self._url = make_url(database_url)
        self._loop = asyncio.new_event_loop() if self._url.get_backend_name() != "sqlite" else None
        self._pg: object | None = None

    def __call__(self) -> tuple[int, ...]:
        if self._loop is None:
            with sqlite3.connect(str(self._url.database)) as db:
                return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES)  # noqa: S608
        return self._loop.run_until_complete(self._postgres())

    async def _postgres(self) -> tuple[int, ...]:
        import asyncpg  # noqa: PLC0415 (only with PostgreSQL)

        if self._pg is None:
            url = self._url
            self._pg = await asyncpg.connect(
                user=url.username,
                password=url.password,
                host=url.host,
                port=url.port,
                database=url.database,
            )
        return tuple([await self._pg.fetchval(f"SELECT COUNT(*) FROM {t}") for t in TABLES])  # type: ignore[attr-defined]  # noqa: S608

    def close(self) -> None:
        if self._loop is not None:
            if self._pg is not None:
                self._loop.run_until_complete(self._pg.close())  # type: ignore[attr-defined]
            self._loop.close()


@contextmanager
def _databases(full: bool) -> Iterator[Iterator[str]]:
    """SQLite always; a fresh PostgreSQL database too on full runs when one is configured."""
    with ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        urls = [f"sqlite:///{Path(directory) / 'backend.sqlite3'}"]
        if full and POSTGRES_URL:
            urls.append(stack.enter_context(postgres_database(POSTGRES_URL)))
        yield iter(urls)


def fuzz_backend_api(*, full: bool) -> GroupResult:
    result = GroupResult("fuzz: backend API (schemathesis)")
    statuses: Counter[str] = Counter()
    with _databases(full) as urls:
        for database_url in urls:
            counts = RowCounts(database_url)
            secret = SecretStr("caller-key-secret-for-trials")
            with running_backend(database_url, token=SecretStr(TOKEN), caller_secret=secret) as url:
                _schemathesis(result, url, counts, statuses, examples=100 if full else 25)
                _raw_bodies(result, url, counts, statuses, examples=300 if full else 40)
            counts.close()
            result.notes.append(f"ran against {make_url(database_url).get_backend_name()}")
    result.notes.append("responses: " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
    return result


# -- schemathesis --------------------------------------------------------------------------------


def _schemathesis(
    result: GroupResult, url: str, counts: RowCounts, statuses: Counter[str], *, examples: int
) -> None:
    schema = schemathesis.openapi.from_path(COMMITTED)
    for operation in schema.get_all_operations():
        op = operation.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            def check(
                case: schemathesis.Case, op: object = op, mode: GenerationMode = mode
            ) -> None:
                _one_case(case, mode, url, counts, statuses)

            # Unsatisfiable: nothing to negate (GET /healthz takes no input).
            with contextlib.suppress(Unsatisfiable):
                explore(
                    result,
                    op.as_strategy(generation_mode=mode, headers=AUTH),
                    check,
                    examples=examples,
                    what=f"{op.label} ({mode.value})",
                )


def _one_case(
    case: schemathesis.Case,
    mode: GenerationMode,
    url: str,
    counts: RowCounts,
    statuses: Counter[str],
) -> None:
    positive = mode is GenerationMode.POSITIVE
    body = case.body if isinstance(case.body, dict) else {}
    session_id = body.get("session_id")
    # The one rule the schema cannot state: PUT /sessions/{id} takes the body's own id.
    if positive and isinstance(session_id, str) and "session_id" in (case.path_parameters or {}):
        case.path_parameters["session_id"] = session_id  # type: ignore[index]
    before = counts()
    response = case.call(base_url=url)
    statuses[f"{response.status_code}"] += 1
    assert response.status_code < 500, f"{case.operation.label} answered {response.status_code}"
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        titles = "; ".join(sorted({failure.title for failure in group.exceptions}))
        raise AssertionError(f"{case.operation.label} ({mode.value}): {titles}") from None
    if response.status_code >= 400:
        assert counts() == before, f"{case.operation.label} refused a request but wrote rows"
        if mode is GenerationMode.POSITIVE:
            kinds = {problem.get("type") for problem in _problems(response.content)}
            refused = (
                f"{case.operation.label} refused valid input with {response.status_code}"
                f" {sorted(map(str, kinds))}: {response.text[:300]}"
            )
            assert response.status_code == 422, refused
            assert kinds <= SEMANTIC_REFUSALS, refused


def _problems(content: bytes) -> list[dict[str, object]]:
    try:
        detail = json.loads(content).get("detail")
    except (ValueError, AttributeError):
        return []
    return detail if isinstance(detail, list) else []


# -- raw bodies ----------------------------------------------------------------------------------

WRITE_PATHS = [
    ("POST", "/api/v1/rooms"),
    ("POST", "/api/v1/conversations/c_fuzz/events"),
    ("POST", "/api/v1/conversations/c_fuzz/context"),
    ("PUT", "/api/v1/sessions/s_fuzz"),
]
_EVENT = (
    '{"events":[{"kind":"message","idempotency_key":"k-%s","session_id":"s1",'
    '"at":"2026-01-01T00:00:00Z","role":"user","text":%s,"turn":1}]}'
)
#: Bodies that broke the backend once (or could): each must be a 4xx, or a clean 2xx.
KNOWN_BODIES = [
    _EVENT % ("nul", '"a\\u0000b"'),
    _EVENT % ("surrogate", '"a\\ud800b"'),
    _EVENT % ("big", json.dumps("x" * 20_001)),
    _EVENT % ("\\u0000", '"key with NUL"'),
    '{"name":"r1","metadata":{"a":1e400}}',
    '{"name":"r2","metadata":{"a":NaN}}',
    '{"name":"r3","metadata":{"\\udfff":1}}',
    '{"name":"r4","metadata":{"a":' + "[" * 5000 + "]" * 5000 + "}}",
    '{"name":"r5","metadata":{"a":' + "9" * 5000 + "}}",
    '{"name":"..","metadata":{}}',
    '{"text":"\\udfff"}',
]
RAW_BODY = (
    st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | st.sampled_from(HOSTILE_STRINGS).map(lambda s: json.dumps({"name": s, "text": s}).encode())
    | st.sampled_from(KNOWN_BODIES).map(lambda s: s.encode())
)


def _raw_bodies(
    result: GroupResult, url: str, counts: RowCounts, statuses: Counter[str], *, examples: int
) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:

        def refused_cleanly(body: bytes, content_type: str = "application/json") -> None:
            for method, path in WRITE_PATHS:
                before = counts()
                response = http.request(
                    method, path, content=body, headers={"content-type": content_type}
                )
                statuses[f"{response.status_code}"] += 1
                assert response.status_code < 500, (
                    f"{method} {path} answered {response.status_code}"
                )
                if response.status_code >= 400:
                    assert counts() == before, f"{method} {path} refused a body but wrote rows"

        explore(result, RAW_BODY, refused_cleanly, examples=examples, what="a raw body")
        record(result, "a body declared over 2 MiB", lambda: _too_large(http, chunked=False))
        record(result, "a chunked body over 2 MiB", lambda: _too_large(http, chunked=True))
        record(
            result,
            "a form body",
            lambda: refused_cleanly(b"name=r1", "application/x-www-form-urlencoded"),
        )


def _too_large(http: httpx.Client, *, chunked: bool) -> None:
    body = b'{"name":"big","metadata":{"k":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    content = (body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    response = http.post(
        "/api/v1/rooms", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, f"a 3 MiB body answered {response.status_code}"
