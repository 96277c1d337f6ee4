"""Who watches a session: spans, Prometheus metrics, the commit audit trail, and any listener
an embedder adds. Given to :func:`voicefsm.engine.assembly.open_session`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.trace import Tracer

from voicefsm.engine.session import VoiceSession
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.observability.tracing import SessionTracer
from voicefsm.persistence.outbox import CommitListener, OutboxStats

OUTBOX_GAUGE_PERIOD_S = 5.0


@dataclass(frozen=True)
class Observers:
    """``tracer``: where session and state spans go (``None``: OpenTelemetry's global tracer, a
    no-op unless configured). ``metrics``: the Prometheus families to count the session in.
    ``on_commit``: told the idempotency keys of each batch of writes once acknowledged (on the
    outbox's writer thread). ``on_session``: called with the session once it is assembled;
    ``on_closed``: with its final outbox figures once it has exited."""

    tracer: Tracer | None = None
    metrics: PrometheusMetrics | None = None
    on_commit: CommitListener | None = None
    on_session: Sequence[Callable[[VoiceSession], None]] = ()
    on_closed: Sequence[Callable[[VoiceSession, OutboxStats], None]] = ()

    def attach(self, session: VoiceSession) -> asyncio.Task[None] | None:
        """Start observing ``session``; returns the task keeping the outbox gauges current."""
        tracer = SessionTracer(
            session.lifecycle,
            session_id=session.session_id,
            conversation_id=session.conversation_id,
            tracer=self.tracer,
        )
        session.tools.subscribe(tracer.tool_call)
        for listener in self.on_session:
            listener(session)
        metrics = self.metrics
        if metrics is None:
            return None
        metrics.attach(session.lifecycle)
        session.tools.subscribe(lambda call: metrics.tool_call(call, session.offered_tools()))
        session.hooks.subscribe_outcomes(metrics.hook_run)
        session.subscribe_latency(
            lambda t: metrics.turn(t.e2e_latency_s, t.llm_ttft_s, t.tts_ttfb_s)
        )
        return asyncio.create_task(_outbox_gauges(session, metrics), name="voicefsm-gauges")

    def closed(self, session: VoiceSession, stats: OutboxStats) -> None:
        if self.metrics is not None:
            self.metrics.outbox_final(stats)
        for listener in self.on_closed:
            listener(session, stats)


async def _outbox_gauges(session: VoiceSession, metrics: PrometheusMetrics) -> None:
    """Keep the outbox gauges current while the call runs (a COUNT off the event loop)."""
    while True:
        status = await session.outbox.status()
        metrics.outbox(status.pending, status.oldest_age_s)
        await asyncio.sleep(OUTBOX_GAUGE_PERIOD_S)
