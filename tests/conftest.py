"""Fixtures for every test folder: the real reference backend (SQLite), a spool path, and a
fresh database of each kind the backend supports.

PostgreSQL runs when ``VOICEFSM_TEST_POSTGRES_URL`` names a server we may create databases on
(``.ci/run`` installs and starts one). Without it the PostgreSQL cases are skipped locally, and
fail under CI so that a missing server cannot pass unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from trials.support import POSTGRES_URL, Backend, postgres_database
from voicefsm.backend.server.runner import running_backend


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: with the suite spread over workers (``-n``), the long ones then overlap
    with everything else instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    database = tmp_path / "backend.sqlite3"
    with running_backend(
        f"sqlite:///{database}", caller_secret=SecretStr("caller-key-secret-for-tests")
    ) as url:
        yield Backend(url, database)


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "outbox.sqlite3"


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
    with postgres_database(POSTGRES_URL) as url:
        yield url
