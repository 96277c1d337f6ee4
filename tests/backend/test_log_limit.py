"""Repeated log records are limited per kind and window; the first drop is said once."""

from __future__ import annotations

import logging

import pytest

from voicefsm.backend.server.log_limit import RepeatLimit, repeats_limited


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, name: str = "uvicorn.error") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_each_kind_passes_a_burst_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limit = RepeatLimit(burst=3, window_s=60.0, clock=clock)
    passed = [limit.filter(record("accept failed: %s", n)) for n in range(100)]
    assert passed.count(True) == 3
    assert limit.filter(record("another problem"))  # a different kind is not held back
    notices = [r for r in caplog.records if r.getMessage() == "repeated log records suppressed"]
    assert len(notices) == 1
    clock.now = 61.0
    assert limit.filter(record("accept failed: %s", 101))


def test_messages_that_differ_only_after_their_first_line_are_one_kind() -> None:
    """asyncio's failed callbacks: the same first line, a different due time below it."""
    limit = RepeatLimit(burst=2)
    messages = [
        f"Exception in callback _start_serving()\nhandle: <TimerHandle when={n}>" for n in range(50)
    ]
    assert sum(limit.filter(record(message)) for message in messages) == 2


def test_the_backend_loggers_are_limited_only_while_inside(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("asyncio")
    with caplog.at_level(logging.ERROR, logger="asyncio"), repeats_limited():
        for _ in range(1000):
            logger.error("socket.accept() out of system resource")
    assert len([r for r in caplog.records if r.name == "asyncio"]) <= 5
    assert not logger.filters
