"""Run ``trials.session_child`` in a subprocess and read what it reports, live."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ChildRun:
    """One child process: acknowledged keys, transitions, and its final report if it got there."""

    config: dict[str, Any]
    acked: list[str] = field(default_factory=list)
    states: list[tuple[float, str]] = field(default_factory=list)  # (seconds since spawn, line)
    report: dict[str, Any] | None = None
    returncode: int | None = None
    stderr: str = ""
    started_at: float = 0.0
    _process: subprocess.Popen[str] | None = None
    _stderr: IO[str] | None = None
    _reader: threading.Thread | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> ChildRun:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.started_at = time.monotonic()
        # A file, not a pipe: a chatty child must never block on a full stderr pipe.
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", "trials.session_child", json.dumps(self.config)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=REPO,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            with self._changed:
                if kind == "ACK":
                    self.acked.append(rest)
                elif kind == "STATE":
                    self.states.append((time.monotonic() - self.started_at, rest))
                elif kind == "REPORT":
                    self.report = json.loads(rest)
                self._changed.notify_all()

    def wait_for_state(self, needle: str, timeout_s: float) -> bool:
        """Block until a transition line containing ``needle`` arrived (False on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not any(needle in line for _, line in self.states):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.finished:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    @property
    def finished(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        if self._process.poll() is None:
            self._process.send_signal(sig)

    def wait(self, timeout_s: float) -> ChildRun:
        """Wait for the process to end (killing it past ``timeout_s``) and for its output."""
        assert self._process is not None
        assert self._reader is not None
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        assert self._stderr is not None
        self._stderr.seek(0)
        self.stderr = self._stderr.read()
        self._stderr.close()
        self.returncode = self._process.returncode
        return self
