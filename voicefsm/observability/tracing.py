"""OpenTelemetry spans for sessions: one per session, and one per stay in a lifecycle state.

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

    def _transition(self, entry: TimelineEntry) -> None:
        at_ns = self._origin_ns + int(entry.t * 1e9)
        self._state.set_attribute("voicefsm.exit_trigger", entry.trigger.value)
        self._state.end(end_time=at_ns)
        self._state = self._open(
            entry.dest, trigger=entry.trigger.value, turn=entry.turn, at_ns=at_ns
        )
        if entry.dest is State.EXITING:
            self._state.end(end_time=at_ns)
            self._session.set_attribute("voicefsm.turns", entry.turn)
            self._session.end(end_time=at_ns)
