"""Backend auth on every API path, and oversized metadata refused on both sides."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import httpx
from pydantic import SecretStr

from trials.secrets_scan import SECRETS, leaks
from trials.summary import GroupResult
from voicefsm.backend.openapi import COMMITTED
from voicefsm.backend.server.runner import running_backend
from voicefsm.context import MAX_METADATA_BYTES, parse_participant_metadata, parse_room_metadata

TOKEN = SECRETS["VOICEFSM_BACKEND_TOKEN"]
_AT = "2026-01-01T00:00:00Z"
#: A valid body for each operation, so the right token is seen to work (not just to differ).
BODIES: dict[str, object] = {
    "/api/v1/rooms": {"name": "room-1"},
    "/api/v1/callers/conversation": {"key": "+15550100"},
    "/api/v1/conversations/{conversation_id}/events": {
        "events": [
            {
                "kind": "message",
                "idempotency_key": "s_1:1",
                "session_id": "s_1",
                "at": _AT,
                "role": "user",
                "text": "hello",
                "turn": 1,
            }
        ]
    },
    "/api/v1/conversations/{conversation_id}/context": {"text": "hello"},
    "/api/v1/sessions/{session_id}": {
        "session_id": "s_1",
        "conversation_id": "c_1",
        "started_at": _AT,
        "ended_at": _AT,
        "duration_s": 0,
        "end_reason": "hang_up",
    },
}
WRONG = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer not-the-token"},
    "token without scheme": {"Authorization": TOKEN},
    "token as Basic": {"Authorization": f"Basic {TOKEN}"},
    "token with a suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "token prefix": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "bearer with no token": {"Authorization": "Bearer"},
}


def _operations() -> list[tuple[str, str]]:
    """Every API operation the committed document lists: a new path is covered by itself."""
    document = json.loads(COMMITTED.read_text())
    return [
        (method.upper(), path)
        for path, item in sorted(document["paths"].items())
        if path.startswith("/api/")
        for method in sorted(item)
    ]


def _counts(database: Path) -> tuple[int, ...]:
    with sqlite3.connect(database) as db:
        return tuple(
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("conversations", "events", "sessions")
        )


def auth_refusals() -> GroupResult:
    result = GroupResult("security: backend refuses missing or wrong tokens")
    operations = _operations()
    result.check(len(operations) >= 5, f"only {len(operations)} API operations found")
    with tempfile.TemporaryDirectory() as directory:
        database = Path(directory) / "backend.sqlite3"
        with (
            running_backend(
                f"sqlite:///{database}",
                token=SecretStr(TOKEN),
                caller_secret=SecretStr("caller-key-secret-for-trials"),
            ) as url,
            httpx.Client(base_url=url, timeout=10) as http,
        ):
            for method, template in operations:
                path = template.format(conversation_id="c_1", session_id="s_1")
                body = BODIES.get(template)
                for label, headers in WRONG.items():
                    result.inputs += 1
                    before = _counts(database)
                    response = http.request(method, path, json=body, headers=headers)
                    result.check(
                        response.status_code == 401,
                        f"{method} {template} with {label} answered {response.status_code}",
                    )
                    result.check(
                        response.headers.get("www-authenticate") == "Bearer",
                        f"{method} {template} 401 without WWW-Authenticate: Bearer",
                    )
                    result.check(_counts(database) == before, f"{method} {template} wrote rows")
                    result.failures += leaks([response.text], f"a 401 body of {template}")
                result.inputs += 1
                response = http.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
                )
                result.check(
                    200 <= response.status_code < 300,
                    f"{method} {template} refused the right token: {response.status_code}",
                )
            result.inputs += 1
            health = http.get("/healthz")
            result.check(health.status_code == 200, "/healthz needs no token (a probe has none)")
    result.trials = 1
    return result


def oversized_metadata() -> GroupResult:
    result = GroupResult("security: oversized metadata refused")
    limit = MAX_METADATA_BYTES
    at_limit = json.dumps({"user_id": "u_1", "display_name": "A", "pad": ""})
    at_limit = at_limit.replace('""', '"' + "x" * (limit - len(at_limit)) + '"')
    over = at_limit.replace('"x', '"xx', 1)
    for parse in (parse_room_metadata, parse_participant_metadata):
        result.inputs += 2
        result.check(parse(at_limit).problem is None, f"{parse.__name__}: {limit} bytes refused")
        refused = parse(over)
        result.check(
            refused.value == type(refused.value)() and "limit" in (refused.problem or ""),
            f"{parse.__name__}: {limit + 1} bytes were not refused whole",
        )
    with tempfile.TemporaryDirectory() as directory:
        database = Path(directory) / "backend.sqlite3"
        with running_backend(f"sqlite:///{database}") as url, httpx.Client(base_url=url) as http:
            for size, expected in ((limit, 422), (limit - 200, 201)):
                result.inputs += 1
                before = _counts(database)
                body = {"name": f"room-{size}", "metadata": {"greeting": "x" * size}}
                response = http.post("/api/v1/rooms", json=body)
                result.check(
                    response.status_code == expected,
                    f"POST /api/v1/rooms with {size} bytes of metadata: {response.status_code}",
                )
                if expected == 422:
                    result.check(_counts(database) == before, "an oversized room was stored")
    result.trials = 1
    return result
