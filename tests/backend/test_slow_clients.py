"""Slow and numerous clients cannot hold the backend: a request's headers and body have
deadlines, open connections are capped below the open-files limit, and the log stays small."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from trials.support import free_port
from voicefsm.backend.server.limits import ServerLimits
from voicefsm.backend.server.runner import running_backend

SHORT = ServerLimits(
    pool_size=2,
    max_requests=8,
    queue_wait_s=1.0,
    header_timeout_s=0.5,
    body_timeout_s=0.5,
    max_connections=1000,
)
PATIENCE_S = 10.0  # far beyond the 0.5 s deadlines: how long a test waits for the server


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[str, int]]:
    with running_backend(f"sqlite:///{tmp_path / 'b.db'}", limits=SHORT) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=PATIENCE_S)
    sock.settimeout(PATIENCE_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a timeout here fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and ``Content-Length`` body), leaving the connection open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_connection_that_never_sends_its_headers_is_closed(backend: tuple[str, int]) -> None:
    with connect(backend) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: backend\r\n")  # and never the blank line
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_is_closed_when_its_next_request_stalls(
    backend: tuple[str, int],
) -> None:
    """Any byte stops uvicorn's keep-alive timer; the header deadline still runs."""
    with connect(backend) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: backend\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert read_until_closed(sock) == b""


def test_a_body_that_does_not_arrive_in_time_gets_408(backend: tuple[str, int]) -> None:
    with connect(backend) as sock:
        sock.sendall(
            b"POST /api/v1/conversations/c1/events HTTP/1.1\r\nHost: backend\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"events":'
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_healthy_client_is_served_as_before(backend: tuple[str, int]) -> None:
    host, port = backend
    response = httpx.post(
        f"http://{host}:{port}/api/v1/conversations/c1/context", json={"text": "hello there"}
    )
    assert response.status_code == 200


#: ``voicefsm backend``, in a process allowed 128 open files.
LOW_LIMIT_BACKEND = (
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); "
    "runpy.run_module('voicefsm', run_name='__main__', alter_sys=True)"
)


@pytest.mark.slow
def test_at_the_open_files_limit_health_still_answers_and_the_log_stays_small(
    tmp_path: Path,
) -> None:
    """300 connections that never send a byte, against a backend allowed 128 open files (and a
    header deadline longer than the test): the cap makes room, nothing floods the log."""
    port = free_port()
    log = tmp_path / "backend.log"
    env = {**os.environ, "VOICEFSM_BACKEND_HEADER_TIMEOUT_S": "600"}
    command = [sys.executable, "-c", LOW_LIMIT_BACKEND, "backend", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{tmp_path / 'b.db'}"]
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=output, env=env)
    idle: list[socket.socket] = []
    try:
        health = _wait_for_health(port)
        assert health == 200
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S))
        time.sleep(2)  # asyncio retries a failed accept() each second: let it log, if it would
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=PATIENCE_S).status_code
        assert health == 200
    finally:
        for sock in idle:
            sock.close()
        server.terminate()
        server.wait(timeout=PATIENCE_S)
    assert log.stat().st_size < 20_000, log.read_text()[-2000:]


def _wait_for_health(port: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_refused_large_body_is_read_to_its_end_so_its_client_reads_the_413(
    tmp_path: Path,
) -> None:
    """Closing a connection with 3 MiB still unread resets it: the client saw a reset instead of
    its 413, most of the time."""
    body = b'{"name":"big","metadata":{"k":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    statuses = []
    with (
        running_backend(f"sqlite:///{tmp_path / 'b.db'}") as url,
        httpx.Client(base_url=url) as http,
    ):
        for _ in range(10):
            response = http.post(
                "/rooms", content=body, headers={"content-type": "application/json"}
            )
            statuses.append(response.status_code)
    assert statuses == [413] * 10
