"""SIGKILL a writer mid-stream: a new process delivers every write the dead one had committed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trials.support import Backend
from voicefsm.backend.client import BackendClient
from voicefsm.persistence.outbox import Outbox

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each

REPO = Path(__file__).resolve().parents[2]


def run_and_kill(spool: Path, session: str, kill_after_s: float) -> list[str]:
    """Start the writer, SIGKILL it ``kill_after_s`` after it is ready; its acknowledged keys."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.persistence.crash_writer", str(spool), session],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    time.sleep(kill_after_s)
    child.send_signal(signal.SIGKILL)
    output, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return [line.split()[1] for line in output.splitlines() if line.startswith("ACK ")]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_committed_write_survives_sigkill_exactly_once(
    seed: int, backend: Backend, tmp_path: Path
) -> None:
    spool = tmp_path / f"spool-{seed}.sqlite3"
    session = f"crash{seed}"
    acked = run_and_kill(spool, session, random.Random(seed).uniform(0.05, 0.4))
    assert acked, "the writer committed nothing before it was killed"

    async with httpx.AsyncClient(base_url=backend.url) as http:
        survivor = Outbox(spool, BackendClient(http))
        await survivor.start()
        assert await survivor.flush(60) == 0
        await survivor.aclose()

    delivered = [key for key in backend.stored_keys() if key.startswith(f"{session}:")]
    assert len(delivered) == len(set(delivered))  # nothing applied twice
    assert set(acked) <= set(delivered)  # nothing acknowledged was lost
    # Commits are in submission order, so what survived is a prefix: no gaps, nothing invented.
    indexes = sorted(int(key.split(":")[1]) for key in delivered)
    assert indexes == list(range(len(indexes)))
