"""Fixtures running the real reference backend on 127.0.0.1, on SQLite and on PostgreSQL.

PostgreSQL runs when ``VOICEFSM_TEST_POSTGRES_URL`` names a server we may create databases on
(``.ci/run`` installs and starts one). Without it the PostgreSQL cases are skipped locally, and
fail under CI so that a missing server cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from voicefsm.backend.server.runner import running_backend

POSTGRES_URL = os.environ.get("VOICEFSM_TEST_POSTGRES_URL")
TOKEN = "test-token-7f3a"  # a fake secret the tests look for in output


async def _admin(url: str, sql: str) -> None:
    import asyncpg  # noqa: PLC0415 (only needed when PostgreSQL runs)

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database or "postgres",
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'backend.sqlite3'}"
        return
    if POSTGRES_URL is None:
        if os.environ.get("CI"):
            pytest.fail("VOICEFSM_TEST_POSTGRES_URL is not set under CI")
        pytest.skip("no PostgreSQL: set VOICEFSM_TEST_POSTGRES_URL to run these")
    name = f"voicefsm_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def backend_url(database_url: str) -> Iterator[str]:
    """The reference backend, without auth."""
    with running_backend(database_url) as url:
        yield url


@pytest.fixture
def secured_backend_url(database_url: str) -> Iterator[str]:
    """The reference backend requiring ``Bearer TOKEN``."""
    with running_backend(database_url, token=SecretStr(TOKEN)) as url:
        yield url


@pytest.fixture
def http(backend_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend_url, timeout=10) as client:
        yield client
