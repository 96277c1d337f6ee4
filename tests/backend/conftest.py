"""Fixtures running the real reference backend on 127.0.0.1, on each database of
``database_url`` (SQLite and PostgreSQL; see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from voicefsm.backend.server.runner import running_backend

TOKEN = "test-token-7f3a"  # a fake secret the tests look for in output
CALLER_SECRET = SecretStr("caller-key-secret-5d1e9a")  # likewise, never in output


@pytest.fixture
def backend_url(database_url: str) -> Iterator[str]:
    """The reference backend, without auth."""
    with running_backend(database_url, caller_secret=CALLER_SECRET) as url:
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
