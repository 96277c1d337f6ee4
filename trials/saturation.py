"""Configuration: a reference backend configured small and kept saturated answers ``503`` with
``Retry-After`` (never ``500``); sessions still end, and every acknowledged write arrives once.

The backend serves one API request at a time with no queue (``VOICEFSM_BACKEND_MAX_REQUESTS=1``,
``VOICEFSM_BACKEND_QUEUE_WAIT_S=0``) while a storm of context searches keeps it busy. Sessions run
through ``simulate`` behind a pass-through proxy that counts the answers they get; whatever the
flush could not deliver is drained once the storm stops.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from trials.crash import drain_spool
from trials.ledger import account, read_applied
from trials.stubs.fault_proxy import FaultProxy, fault_proxy
from trials.summary import GroupResult
from trials.support import free_port
from voicefsm.backend.server.limits import ServerLimits
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.targets import session_of
from voicefsm.settings import Settings
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario

SCENARIO = Scenario.model_validate(
    {
        "participant_metadata": {"user_id": "u_busy", "display_name": "Bea"},
        "turns": [
            {"user": "Is my appointment still on for Tuesday"},
            {"user": "Can you move it to the afternoon", "pause_ms": 300},
        ],
        "end": "hang_up",
    }
)
ONE_AT_A_TIME = ServerLimits(
    pool_size=1,
    max_requests=1,
    queue_wait_s=0.0,
    header_timeout_s=10.0,
    body_timeout_s=10.0,
    max_connections=1000,
)
STORM_WORKERS = 4


class _Acks:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, keys: Sequence[str]) -> None:
        with self._lock:
            self.keys.update(keys)


@contextmanager
def _storm(backend_url: str) -> Iterator[Counter[str]]:
    """Concurrent context searches until the block ends; counts their answers (``"503 without
    Retry-After"`` apart)."""
    answers: Counter[str] = Counter()
    stop = threading.Event()

    async def worker(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            response = await http.post(
                "/api/v1/conversations/c_storm/context", json={"text": "appointment afternoon"}
            )
            status = response.status_code
            if status == 503 and response.headers.get("Retry-After") is None:
                answers["503 without Retry-After"] += 1
            answers[str(status)] += 1

    async def run() -> None:
        async with httpx.AsyncClient(base_url=backend_url, timeout=30) as http:
            await asyncio.gather(*(worker(http) for _ in range(STORM_WORKERS)))

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join(30)


def run_saturation(*, sessions: int) -> GroupResult:
    """``sessions`` concurrent sessions against a saturated one-request-at-a-time backend."""
    result = GroupResult("configuration: backend saturated, 503 + Retry-After", trials=sessions)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-busy-")))
        database_url = f"sqlite:///{workdir / 'backend.sqlite3'}"
        backend_url = stack.enter_context(running_backend(database_url, limits=ONE_AT_A_TIME))
        port = free_port()
        proxy = FaultProxy(backend_url, rate=0.0)  # passes everything, counts the answers
        spool = workdir / "spool.sqlite3"
        acks = _Acks()
        settings = Settings(
            backend_url=f"http://127.0.0.1:{port}", spool_path=spool, flush_deadline_s=3.0
        )
        with fault_proxy(backend_url, port=port, proxy=proxy), _storm(backend_url) as storm:
            outcome = asyncio.run(simulate(SCENARIO, settings, sessions=sessions, on_commit=acks))
        # The storm is over: deliver the rest, straight to the backend (the sessions' rows are
        # bound for the proxy's address, so the drain takes them over from it).
        leftover = drain_spool(spool, backend_url, rebind_from=str(settings.backend_url))
        result.faults = proxy.answered[503] + storm["503"]
        result.check(proxy.answered[503] > 0, "the sessions never met a 503: not saturated")
        result.check(storm["503"] > 0, "the storm never met a 503: not saturated")
        errors = proxy.answered[500] + storm["500"]
        result.check(errors == 0, f"{errors} answers were 500")
        missing = storm["503 without Retry-After"]
        result.check(missing == 0, f"{missing} answers were 503 without Retry-After")
        result.check(leftover == 0, f"{leftover} writes still pending after a final drain")
        reports = outcome.sessions
        result.check(len(reports) == sessions, f"{len(reports)} of {sessions} sessions reported")
        result.crashes += sum(1 for s in reports if s["final_state"] != "exiting" or s["stuck"])
        applied = read_applied(
            database_url,
            conversations=[s["conversation_id"] for s in reports if "conversation_id" in s],
            sessions={session_of(key) for key in acks.keys},
        )
        account(result, acknowledged=acks.keys, applied=applied, where="saturated backend")
    latencies = [
        t["e2e_latency_s"] for s in reports for t in s.get("latencies", []) if t["e2e_latency_s"]
    ]
    result.notes.append(
        f"the sessions got {proxy.answered[503]} x 503 and {proxy.answered[200]} x 200, "
        f"the storm {storm['503']} x 503 and {storm['200']} x 200; "
        + (f"median turn latency {statistics.median(latencies) * 1000:.0f} ms" if latencies else "")
    )
    return result
