"""OpenTelemetry spans for sessions: one per session, one per stay in a lifecycle state, and
one per stay of a conversation flow in a node.

Off by default: with no SDK configured, OpenTelemetry's API hands out no-op tracers.
:func:`configure_from_env` installs an SDK provider when the standard ``OTEL_EXPORTER_OTLP_*``
variables name an endpoint, and gives it to livekit too, so its spans and ours share a trace:
a session span is opened in the job's context, under livekit's own job span.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from voicefsm.flows import NodeChange
from voicefsm.lifecycle import Lifecycle, State, TimelineEntry, ToolCall

TRACER_NAME = "voicefsm"
_configured = False


def configure_from_env() -> bool:
    """Export spans over OTLP when the standard variables ask for it; True if configured."""
    global _configured  # noqa: PLW0603 (one provider per process, as OpenTelemetry wants)
    if _configured:
        return True
    wanted = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not wanted or os.environ.get("OTEL_TRACES_EXPORTER", "otlp") == "none":
        return False
    from livekit.agents import telemetry  # noqa: PLC0415 (only when tracing is on)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    service = os.environ.get("OTEL_SERVICE_NAME", "voicefsm")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    telemetry.set_tracer_provider(provider)
    _configured = True
    return True


class SessionTracer:
    """Opens the session span now, and a state span for each stay, as transitions happen.

    Span boundaries are the lifecycle's own transition times (its monotonic clock, mapped to
    wall-clock time once), so spans and timeline agree exactly rather than differing by however
    long a transition's callbacks took.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        session_id: str,
        conversation_id: str,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracer = tracer or trace.get_tracer(TRACER_NAME)
        self._common = {"voicefsm.conversation_id": conversation_id}
        # Wall-clock nanoseconds of the timeline's origin (its times are seconds after it).
        self._origin_ns = time.time_ns() - int((clock() - lifecycle.timeline.origin) * 1e9)
        self._session = self._tracer.start_span(
            "voicefsm.session",
            attributes=self._common | {"voicefsm.session_id": session_id},
            start_time=self._origin_ns,
        )
        self._context = trace.set_span_in_context(self._session)
        self._state = self._open(State.JOINING, trigger=None, turn=0, at_ns=self._origin_ns)
        #: Each flow's open node span (a flow's first one opens at its first move, back-dated
        #: to the session's start, where the flow was).
        self._nodes: dict[str, Span] = {}
        # Not recorded (no SDK configured, or sampled out): neither are spans under it, so a
        # transition need not make and end two no-op spans (10 µs each, on the voice path).
        self._recording = self._session.is_recording()
        if self._recording:
            lifecycle.subscribe(self._transition)

    def _open(self, state: State, *, trigger: str | None, turn: int, at_ns: int) -> Span:
        attributes: dict[str, str | int] = {
            **self._common,
            "voicefsm.state": state.value,
            "voicefsm.turn": turn,
        }
        if trigger is not None:
            attributes["voicefsm.trigger"] = trigger
        return self._tracer.start_span(
            f"voicefsm.state.{state.value}",
            context=self._context,
            attributes=attributes,
            start_time=at_ns,
        )

    def tool_call(self, call: ToolCall) -> None:
        """A span for a finished tool call, under the state span of the moment it finished."""
        if not self._recording:
            return
        end_ns = time.time_ns()
        span = self._tracer.start_span(
            f"voicefsm.tool.{call.name}",
            context=trace.set_span_in_context(self._state),
            attributes={
                **self._common,
                "voicefsm.tool.name": call.name,
                "voicefsm.tool.outcome": call.outcome.value,
                "voicefsm.tool.interrupted": call.interrupted,
                "voicefsm.turn": call.turn,
            },
            start_time=end_ns - int(call.duration_s * 1e9),
        )
        span.end(end_time=end_ns)

    def node_change(self, change: NodeChange, t: float) -> None:
        """A flow moved at ``t`` seconds into the session: the node span it left ends, the
        one it entered opens (both under the session span)."""
        if not self._recording:
            return
        at_ns = self._origin_ns + int(t * 1e9)
        left = self._nodes.pop(change.flow, None)
        if left is None:
            left = self._open_node(change.flow, change.source, self._origin_ns, None)
        left.set_attribute("voicefsm.flow.exit_edge", change.edge)
        left.end(end_time=at_ns)
        self._nodes[change.flow] = self._open_node(change.flow, change.dest, at_ns, change)

    def _open_node(self, flow: str, node: str, at_ns: int, change: NodeChange | None) -> Span:
        attributes: dict[str, str | int] = {
            **self._common,
            "voicefsm.flow": flow,
            "voicefsm.flow.node": node,
        }
        if change is not None:
            attributes |= {
                "voicefsm.flow.edge": change.edge,
                "voicefsm.flow.by": change.by,
                "voicefsm.flow.step": change.step,
            }
        return self._tracer.start_span(
            f"voicefsm.node.{node}", context=self._context, attributes=attributes, start_time=at_ns
        )

    def _transition(self, entry: TimelineEntry) -> None:
        at_ns = self._origin_ns + int(entry.t * 1e9)
        self._state.set_attribute("voicefsm.exit_trigger", entry.trigger.value)
        self._state.end(end_time=at_ns)
        self._state = self._open(
            entry.dest, trigger=entry.trigger.value, turn=entry.turn, at_ns=at_ns
        )
        if entry.dest is State.EXITING:
            self._state.end(end_time=at_ns)
            for span in self._nodes.values():
                span.end(end_time=at_ns)
            self._nodes.clear()
            self._session.set_attribute("voicefsm.turns", entry.turn)
            self._session.end(end_time=at_ns)
