"""Who watches a session: spans, Prometheus metrics, the commit audit trail, and any listener
an embedder adds. Given to :func:`voicefsm.engine.assembly.open_session`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.trace import Tracer

from voicefsm.engine.session import VoiceSession
from voicefsm.observability.outbox_gauges import outbox_gauges
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.observability.tracing import SessionTracer
from voicefsm.persistence.outbox import CommitListener, OutboxStats


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

    def attach(self, session: VoiceSession) -> Callable[[], None] | None:
        """Start observing ``session``; returns what stops keeping the outbox gauges current
        for it (one refresher per event loop serves every session on it)."""
        tracer = SessionTracer(
            session.lifecycle,
            session_id=session.session_id,
            conversation_id=session.conversation_id,
            tracer=self.tracer,
        )
        session.tools.subscribe(tracer.tool_call)
        session.flows.subscribe(lambda entry: tracer.node_change(entry.change, entry.t))
        for listener in self.on_session:
            listener(session)
        metrics = self.metrics
        if metrics is None:
            return None
        metrics.attach(session.lifecycle)
        session.tools.subscribe(lambda call: metrics.tool_call(call, session.offered_tools()))
        session.hooks.subscribe_outcomes(metrics.hook_run)
        session.flows.subscribe(lambda entry: metrics.node_change(entry.change))
        session.subscribe_latency(
            lambda t: metrics.turn(t.e2e_latency_s, t.llm_ttft_s, t.tts_ttfb_s)
        )
        return outbox_gauges(metrics).watch(session.outbox)

    def closed(self, session: VoiceSession, stats: OutboxStats) -> None:
        if self.metrics is not None:
            self.metrics.outbox_final(stats)
            for flow, node, seconds in session.flows.last_stays():
                self.metrics.node_left(flow, node, seconds)
        for listener in self.on_closed:
            listener(session, stats)
