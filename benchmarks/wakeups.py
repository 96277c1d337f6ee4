"""What voicefsm wakes while sessions have nothing to do: counted, so load on the machine does not
change the figures.

N voicefsm sessions are opened as ``voicefsm start`` opens them (``open_session``, the worker's
Prometheus observers, a backend to deliver to, run as its own process), greet, then sit in
``listening`` while the simulated caller stays silent. Over the idle window it counts, per
session per minute: timers that fired on the event loop that voicefsm's own code armed (not
livekit's, not the simulated devices'), hops to a worker thread voicefsm asked for, spool
readings, and the spool thread's wake-ups.

    python benchmarks/wakeups.py [--sessions 20] [--idle-s 30] [--no-backend]
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.base_events
import collections
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sessions import start_worker_session
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.persistence import spool as spool_module
from voicefsm.persistence import writer as writer_module
from voicefsm.settings import load_settings

COUNTS: collections.Counter[str] = collections.Counter()
_OWN = ("/voicefsm/",)
_NOT_OWN = ("/voicefsm/providers/", "/benchmarks/")


def _voicefsm_origin() -> bool:
    """True when the nearest caller outside asyncio is voicefsm's own code."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/asyncio/" not in name and "contextlib" not in name:
            return any(p in name for p in _OWN) and not any(p in name for p in _NOT_OWN)
        frame = frame.f_back
    return False


def _instrument() -> None:
    loop_class = asyncio.base_events.BaseEventLoop
    call_at = loop_class.call_at
    main = threading.get_ident()

    def counted_call_at(self: Any, when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == main and _voicefsm_origin():

            def fired(*inner: Any) -> None:
                COUNTS["loop timers fired"] += 1
                callback(*inner)

            return call_at(self, when, fired, *args, **kwargs)
        return call_at(self, when, callback, *args, **kwargs)

    loop_class.call_at = counted_call_at  # type: ignore[method-assign]
    to_thread = asyncio.to_thread

    async def counted_to_thread(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        if _voicefsm_origin():
            COUNTS["thread hops"] += 1
        return await to_thread(function, *args, **kwargs)

    asyncio.to_thread = counted_to_thread  # type: ignore[assignment]
    for name in ("status", "pending", "lease"):
        if hasattr(spool_module.Spool, name):
            original = getattr(spool_module.Spool, name)

            def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                COUNTS["spool readings"] += 1
                return _original(*args, **kwargs)

            setattr(spool_module.Spool, name, counted)
    round_ = writer_module.SpoolWriter._round

    def counted_round(self: Any, spool: Any) -> bool:
        COUNTS["spool thread wake-ups"] += 1
        return round_(self, spool)

    writer_module.SpoolWriter._round = counted_round  # type: ignore[method-assign]


def _backend(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 (our own CLI)
        [
            sys.executable,
            "-m",
            "voicefsm",
            "backend",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{directory / 'backend.sqlite3'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    process.kill()
    msg = "the backend did not start"
    raise RuntimeError(msg)


async def measure(sessions: int, idle_s: float, backend: str | None, spool: Path) -> dict[str, Any]:
    settings = load_settings(
        spool_path=spool, backend_url=backend, flush_deadline_s=2.0, silence_timeout_s=3600
    )
    metrics = PrometheusMetrics()
    started = [
        await start_worker_session("voicefsm", settings, metrics, greeting="Hi.", farewell="Bye.")
        for _ in range(sessions)
    ]
    for session in started:  # every greeting heard: from here on nobody says anything
        speaker = session.speaker
        while speaker.segments_played < 1 or speaker.playing.is_set():
            await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # the greetings' writes delivered
    COUNTS.clear()
    await asyncio.sleep(idle_s)
    counted = dict(COUNTS)
    await asyncio.gather(*(session.aclose() for session in started))
    per = sessions * idle_s / 60
    return {name: round(count / per, 2) for name, count in sorted(counted.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--no-backend", action="store_true")
    args = parser.parse_args()
    _instrument()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        process, url = (None, None) if args.no_backend else _backend(directory)
        try:
            figures = asyncio.run(
                measure(args.sessions, args.idle_s, url, directory / "outbox.sqlite3")
            )
        finally:
            if process is not None:
                process.terminate()
                process.wait()
    print(
        f"{args.sessions} idle sessions, {args.idle_s:.0f} s, backend {'no' if url is None else 'yes'}: "
        "per session per minute: "
        + (", ".join(f"{name} {value}" for name, value in figures.items()) or "nothing")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
