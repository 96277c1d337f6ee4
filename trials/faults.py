"""Backend faults under whole sessions: the backend down for a window mid-session, 2 s of added
latency, 15% 500/503 answers with ``Retry-After``, connections reset before and after the backend
applied a write, answers that trickle out a byte at a time.

Sessions run through ``simulate`` (the production entrypoint, scripted providers, real-time
audio) against a fault proxy on 127.0.0.1 in front of the real reference backend. Each profile
checks that every session completed, that no turn waited on the backend (no turn's latency
reached one backend request's), and, once the backend is reachable again and the spool drained,
that every acknowledged write was applied exactly once and nothing else was.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from trials.crash import drain_spool
from trials.ledger import account, read_applied
from trials.stubs.fault_proxy import Fault, FaultProxy, fault_proxy
from trials.summary import GroupResult
from trials.support import free_port
from voicefsm.backend.server.runner import running_backend
from voicefsm.persistence.targets import session_of
from voicefsm.settings import Settings
from voicefsm.simulation.runner import SimulationResult, simulate
from voicefsm.simulation.scenario import Scenario

SCENARIO = Scenario.model_validate(
    {
        "participant_metadata": {"user_id": "u_faults", "display_name": "Fay"},
        "turns": [
            {"user": "Is the pharmacy open late tonight"},
            {"user": "Until what time exactly", "pause_ms": 300},
            {"user": "And do you have flu shots", "pause_ms": 300},
        ],
        "end": "hang_up",
    }
)
#: No turn may take as long as one slow backend request: that would mean it waited on one.
SLOW_REQUEST_S = 2.0
DOWN_AFTER_S, DOWN_FOR_S = 4.0, 6.0


@dataclass
class Profile:
    name: str
    configure: Callable[[FaultProxy], None] = lambda _proxy: None
    downtime: bool = False


PROFILES = [
    Profile("healthy (baseline)"),
    Profile(f"down {DOWN_FOR_S:.0f} s mid-session", downtime=True),
    Profile(
        f"{SLOW_REQUEST_S:.0f} s latency",
        lambda p: setattr(p, "always", Fault("delay_before", delay_s=SLOW_REQUEST_S)),
    ),
    Profile(
        "15% 500/503 with Retry-After",
        lambda p: _random(p, 0.15, [Fault("status", 500), Fault("status", 503, "1")]),
    ),
    Profile(
        "resets before/after apply",
        lambda p: _random(p, 0.2, [Fault("reset_before"), Fault("reset_after")]),
    ),
    Profile(
        "slow-drip answers",
        lambda p: _random(p, 0.2, [Fault("slow_drip", delay_s=0.05)]),
    ),
]


def _random(proxy: FaultProxy, rate: float, faults: list[Fault]) -> None:
    proxy.rate = rate
    proxy.random_faults = faults


@dataclass
class _Acks:
    keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, keys: Sequence[str]) -> None:
        with self.lock:
            self.keys.update(keys)


@contextmanager
def _served(proxy: FaultProxy, port: int, downtime: bool) -> Iterator[None]:
    """Serve ``proxy`` on ``port``; with ``downtime``, stop listening (connections refused)
    for a window that starts mid-session, then serve again on the same port."""
    stop = threading.Event()

    def cycle() -> None:
        with fault_proxy(proxy.upstream, port=port, proxy=proxy):
            if stop.wait(DOWN_AFTER_S):
                return
        proxy.seen["down"] += 1
        if stop.wait(DOWN_FOR_S):
            return
        with fault_proxy(proxy.upstream, port=port, proxy=proxy):
            stop.wait()

    if not downtime:
        with fault_proxy(proxy.upstream, port=port, proxy=proxy):
            yield
        return
    thread = threading.Thread(target=cycle, daemon=True)
    thread.start()
    time.sleep(0.2)  # the first serving is up before sessions start
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def _run_profile(
    profile: Profile, sessions: int, backend_url: str, database_url: str, workdir: Path
) -> tuple[GroupResult, list[float]]:
    result = GroupResult(f"backend: {profile.name}", trials=sessions)
    proxy = FaultProxy(backend_url, seed=len(profile.name))
    profile.configure(proxy)
    port = free_port()
    spool = workdir / f"spool-{port}.sqlite3"
    acks = _Acks()
    settings = Settings(
        backend_url=f"http://127.0.0.1:{port}", spool_path=spool, flush_deadline_s=3.0
    )
    with _served(proxy, port, profile.downtime):
        outcome: SimulationResult = asyncio.run(
            simulate(SCENARIO, settings, sessions=sessions, on_commit=acks)
        )
    result.faults = proxy.injected
    leftover = drain_spool(spool, backend_url)  # the backend is back: deliver the rest
    result.check(leftover == 0, f"{leftover} writes still pending after the backend came back")
    reports = outcome.sessions
    result.crashes += sum(1 for s in reports if s["final_state"] != "exiting" or s["stuck"])
    latencies = [
        t["e2e_latency_s"] for s in reports for t in s.get("latencies", []) if t["e2e_latency_s"]
    ]
    waited = [round(x, 2) for x in latencies if x >= SLOW_REQUEST_S]
    result.check(not waited, f"turns waited on the backend: {waited[:5]} s")
    applied = read_applied(
        database_url,
        conversations=[s["conversation_id"] for s in reports if "conversation_id" in s],
        sessions={session_of(key) for key in acks.keys},
    )
    account(result, acknowledged=acks.keys, applied=applied, where=profile.name)
    return result, latencies


def run_backend_faults(
    *, sessions: int = 2, profiles: list[str] | None = None
) -> list[GroupResult]:
    """Each profile (all, or those named), ``sessions`` concurrent sessions each, one SQLite
    reference backend; each median turn latency is reported against the first profile's."""
    results: list[GroupResult] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicefsm-faults-")))
        database_url = f"sqlite:///{workdir / 'backend.sqlite3'}"
        backend_url = stack.enter_context(running_backend(database_url))
        baseline: float | None = None
        for profile in PROFILES:
            if profiles is not None and profile.name not in profiles:
                continue
            result, latencies = _run_profile(profile, sessions, backend_url, database_url, workdir)
            if latencies:
                median = statistics.median(latencies)
                baseline = baseline or median
                result.notes.append(
                    f"median turn latency {median * 1000:.0f} ms, "
                    f"{median / baseline:.3f} times the first profile's ({len(latencies)} turns)"
                )
            results.append(result)
    return results
