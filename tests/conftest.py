"""Fixtures for every test folder: the real reference backend (SQLite) and a spool path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Backend
from voicefsm.backend.server.runner import running_backend


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    database = tmp_path / "backend.sqlite3"
    with running_backend(f"sqlite:///{database}") as url:
        yield Backend(url, database)


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "outbox.sqlite3"
