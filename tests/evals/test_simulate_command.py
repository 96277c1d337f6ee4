"""``voicefsm simulate`` as a process: the first SIGINT or SIGTERM, at any moment, ends the
calls, persists them and exits 130/143; where reports go is checked before any call starts;
``--log-level`` says how much is logged."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from trials.support import Backend
from voicefsm.persistence.spool import Spool

pytestmark = pytest.mark.slow

LONG_CALL = "\n".join(
    ["participant_metadata: {display_name: Ada}", "turns:"]
    + [f"  - user: Question number {n} about the menu\n    pause_ms: 2500" for n in range(8)]
)


class Running:
    """A ``voicefsm simulate`` process and the lines it writes, as they come."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        scenario = tmp_path / "long.yaml"
        scenario.write_text(LONG_CALL)
        self.spool = tmp_path / "spool.sqlite3"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voicefsm", "simulate", "--scenario", str(scenario), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "VOICEFSM_SPOOL_PATH": str(self.spool),
            },
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = 120) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if wanted(line):
                return

    def finish(self, timeout: float = 90) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_mid_call_ends_the_call_persists_it_and_exits_128_plus_its_number(
    tmp_path: Path, backend: Backend, sig: signal.Signals, status: int
) -> None:
    run = Running(tmp_path, "--backend-url", backend.url)
    try:
        run.wait_for(lambda line: "user_turn_completed" in line)  # the call is under way
        run.process.send_signal(sig)
        code, output = run.finish()
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.finish()
    assert code == status, output[-3000:]
    assert "Traceback" not in output
    assert f"stopped by signal {int(sig)}" in output
    with sqlite3.connect(backend.database) as db:
        [(summary,)] = db.execute("SELECT summary FROM sessions").fetchall()
        messages = db.execute("SELECT text FROM events WHERE kind = 'message'").fetchall()
    stored = json.loads(summary)
    assert stored["end_reason"] == "participant_left"  # ended at once: the caller left
    assert stored["duration_s"] < 30  # a fraction of the scripted call's minute
    assert ("Question number 0 about the menu",) in messages
    assert "Goodbye" not in json.dumps(stored["messages"])  # nobody left to say it to
    spool = Spool(run.spool, readonly=True)
    try:
        assert spool.status().pending == 0  # everything was delivered
    finally:
        spool.close()


def test_a_signal_before_any_call_stops_at_once_without_a_traceback(tmp_path: Path) -> None:
    run = Running(tmp_path, "--log-level", "INFO")
    try:
        run.wait_for(lambda line: "checking the scenarios" in line)  # its handler is in place
        run.process.send_signal(signal.SIGINT)
        code, output = run.finish()
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.finish()
    assert code == 130, output[-3000:]
    assert "Traceback" not in output
    assert "session" not in output  # no call was started
    assert "stopped by signal 2 before any call started" in output


@pytest.mark.parametrize("option", ["--timeline-dir", "--junit"])
def test_an_unusable_output_path_is_refused_before_the_call(
    tmp_path: Path, backend: Backend, option: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file where a directory should be")
    target = blocker / "out" if option == "--timeline-dir" else tmp_path
    scenario = tmp_path / "s.yaml"
    scenario.write_text("turns: [{user: hi}]")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "voicefsm", "simulate", "--scenario", str(scenario)),
            *("--backend-url", backend.url, option, str(target)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    reason = "cannot be made" if option == "--timeline-dir" else "is a directory"
    assert result.stderr.startswith(f"voicefsm simulate: {option}: ")
    assert reason in result.stderr
    assert result.stdout == ""
    assert backend.stored_keys() == []  # no call ran


def test_the_log_level_says_how_much_is_logged(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("turns: [{user: hi}]\nexpect: {end_reason: hang_up}")
    outputs = {}
    for level in ("ERROR", "DEBUG"):
        result = subprocess.run(
            [
                *(sys.executable, "-m", "voicefsm", "simulate", "--fast"),
                *("--scenario", str(scenario), "--log-level", level),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[level] = result.stderr
    assert "WARNING" not in outputs["ERROR"]
    assert "DEBUG " in outputs["DEBUG"]
