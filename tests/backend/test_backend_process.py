"""``simulate``'s embedded backend in a child process: it serves on the socket its parent bound,
with the token and secrets it was handed on a pipe (never in its arguments or environment),
stops when told to or when its parent dies, and a start that fails is one line, not a
traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from voicefsm.cli.backend_process import BackendProcess, BackendStartError

pytestmark = pytest.mark.slow

_LIMITS = {
    "backend_pool_size": 5,
    "backend_max_requests": 64,
    "backend_queue_wait_s": 5.0,
    "backend_header_timeout_s": 10.0,
    "backend_body_timeout_s": 10.0,
    "backend_max_connections": 256,
}
_TOKEN = "child-backend-token-7d1f"


def _start(database: Path, token: str | None = _TOKEN) -> BackendProcess:
    return BackendProcess.start(
        f"sqlite:///{database}", token=token, caller_secret="s" * 64, limits=_LIMITS
    )


def _exited(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_it_serves_with_the_token_it_was_handed_and_stops_when_told(tmp_path: Path) -> None:
    backend = _start(tmp_path / "backend.sqlite3")
    pid = backend.pid
    try:
        backend.wait_ready()
        assert httpx.get(f"{backend.url}/healthz").status_code == 200
        created = f"{backend.url}/api/v1/rooms"
        assert httpx.post(created, json={"name": "r"}).status_code == 401
        with_token = httpx.post(
            created, json={"name": "r"}, headers={"Authorization": f"Bearer {_TOKEN}"}
        )
        assert with_token.status_code == 201, with_token.text
        # secrets travel on the pipe: nothing a `ps` or /proc shows carries them
        shown = (
            Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
        )
        assert _TOKEN.encode() not in shown
    finally:
        backend.stop()
    assert backend.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{backend.url}/healthz")
    # what it acknowledged is in the database it closed
    assert (tmp_path / "backend.sqlite3").stat().st_size > 0


def test_a_database_it_cannot_open_is_said_in_one_line(tmp_path: Path) -> None:
    unusable = tmp_path / "backend.sqlite3"
    unusable.mkdir()
    backend = _start(unusable)
    with pytest.raises(BackendStartError, match="unable to open database file") as raised:
        backend.wait_ready()
    assert "\n" not in str(raised.value)
    assert backend.returncode is not None


def test_it_stops_on_its_own_when_its_parent_dies(tmp_path: Path) -> None:
    parent = f"""
import json, os, sys
from voicefsm.cli.backend_process import BackendProcess
backend = BackendProcess.start(
    "sqlite:///{tmp_path / "backend.sqlite3"}", token=None, caller_secret="s" * 64,
    limits={json.dumps(_LIMITS)},
)
backend.wait_ready()
print(json.dumps({{"pid": backend.pid, "url": backend.url}}), flush=True)
os._exit(9)  # no stop, no cleanup: as if killed
"""
    done = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 9, done.stderr
    child = json.loads(done.stdout)
    assert _exited(child["pid"], within_s=60), "the orphaned backend kept running"


def test_simulate_says_why_its_backend_did_not_start_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "simulate" / "backend.sqlite3"
    database.parent.mkdir(mode=0o700)
    database.write_bytes(b"not a database" * 512)
    done = subprocess.run(
        [sys.executable, "-m", "voicefsm", "simulate", "--fast", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    said = done.stderr.strip().splitlines()
    assert said[-1].startswith("voicefsm simulate: the embedded backend")
    assert "file is not a database" in said[-1]
    assert database.read_bytes() == b"not a database" * 512  # left as it was
